"""ImportModel end to end: what `export` / `weights --json` wrote comes back as a model that
predicts like the original. Needs the server's ImportModel (the lead's side of issue 13)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_run import run_main

from gatenet.client import Client, ModelInfo

ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.fixture(scope="module")
def original(server) -> ModelInfo:
    with Client(server.target, timeout=60) as client:
        return client.train(gate="xor", hidden_sizes=[4], activation="relu", seed=2, restarts=8)


def assert_same_model(client: Client, imported: ModelInfo, original: ModelInfo) -> None:
    assert imported.model_id != original.model_id
    assert imported.imported_from == original.model_id
    assert imported.num_inputs == original.num_inputs
    a, b = client.get_weights(original), client.get_weights(imported)
    assert b.activation == a.activation == "relu"
    assert list(b.tensors) == list(a.tensors)
    for name in a.tensors:
        np.testing.assert_array_equal(b.tensors[name], a.tensors[name])
    ours, theirs = client.predict(imported, ROWS), client.predict(original, ROWS)
    np.testing.assert_array_equal(ours.probabilities, theirs.probabilities)


def test_safetensors_from_get_weights_import_as_the_same_model(client, original, tmp_path):
    blob = client.get_weights(original, safetensors=True).safetensors
    assert_same_model(client, client.import_model(blob), original)
    path = tmp_path / "xor.safetensors"
    path.write_bytes(blob)
    named = client.import_model(path, name="imported-xor-st")
    assert named.name == "imported-xor-st"
    assert_same_model(client, named, original)


def test_weights_json_imports_as_the_same_model(client, original):
    document = json.dumps(client.get_weights(original).to_dict())
    assert_same_model(client, client.import_model(document), original)


def test_the_import_command_prints_the_model_like_train(server, client, original, tmp_path, capsys):
    t = ("--target", server.target)
    assert run_main(capsys, *t, "export", original.model_id, str(tmp_path))[0] == 0
    code, out, err = run_main(
        capsys, *t, "import", str(tmp_path / f"{original.model_id}.json"), "--name", "cli-import"
    )
    assert code == 0, err
    assert "(cli-import)" in out and re.search(r"network:\s+2-4-1 relu", out)
    assert f"imported from:  {original.model_id}" in out
    code, out, _ = run_main(
        capsys, *t, "--json", "import", str(tmp_path / f"{original.model_id}.safetensors")
    )
    info = json.loads(out)
    assert code == 0 and info["imported_from"] == original.model_id
    assert_same_model(client, client.get_model(info["model_id"]), original)
