"""An imported model's summary (issue 21, item 18): the original's when the file carries it,
measured on the task's rows when the file names only the task, unknown (never zeros) else."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_run import run_main
from safetensors.numpy import save as save_safetensors

from gatenet.client import Client, ClientError, ModelInfo

TRAINING_ONLY = ("steps", "restarts", "restart_index", "restarts_fit", "seed_used", "train_seconds")


@pytest.fixture(scope="module")
def original(server) -> ModelInfo:
    with Client(server.target, timeout=60) as client:
        return client.train(gate="xor", hidden_sizes=[4], seed=0, name="summary-xor")


def lines(text: str) -> dict[str, str]:
    """A `key: value` block as a dict."""
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def test_a_weights_json_import_is_measured_on_its_task(server, original, capsys, tmp_path):
    t = ("--target", server.target)
    code, out, err = run_main(capsys, *t, "--json", "weights", "summary-xor")
    assert code == 0, err
    path = tmp_path / "xor.json"
    path.write_text(out)
    code, out, err = run_main(capsys, *t, "import", str(path), "--name", "summary-xor-json")
    assert code == 0, err
    shown = lines(out)
    assert shown["fit"] == f"yes  (margin {original.margin_reached:.3f}, measured at import)"
    assert shown["accuracy"] == "1.000"
    assert float(shown["final loss"]) == pytest.approx(original.final_loss, rel=1e-3)
    assert shown["steps"] == shown["restarts"] == shown["seed"] == shown["time"] == "unknown"
    with Client(server.target) as c:
        info = c.get_model("summary-xor-json")
    assert (info.fit, info.accuracy, info.measured) == (True, 1.0, True)
    assert info.margin_reached == pytest.approx(original.margin_reached, abs=1e-6)
    assert info.final_loss == pytest.approx(original.final_loss, rel=1e-4)
    assert all(getattr(info, name) is None for name in TRAINING_ONLY)
    assert info.stopped_by == ""


def test_a_measured_model_that_does_not_fit_says_so(client):
    document = {
        "activation": "tanh",
        "spec": {"gate": {"name": "XOR", "num_inputs": 2}},
        "tensors": {  # OR's weights: three of XOR's four rows right
            "layers.0.weight": {"shape": [2, 1], "values": [4.0, 4.0]},
            "layers.0.bias": {"shape": [1], "values": [-2.0]},
        },
    }
    info = client.import_model(json.dumps(document))
    assert (info.fit, info.accuracy, info.measured) == (False, 0.75, True)
    assert info.margin_reached < 0


def test_a_file_without_a_task_has_an_unknown_summary(server, client, capsys, tmp_path):
    rng = np.random.default_rng(0)
    blob = save_safetensors(
        {
            "layers.0.weight": rng.normal(size=(3, 2)).astype(np.float32),
            "layers.0.bias": np.zeros(2, np.float32),
            "layers.1.weight": rng.normal(size=(2, 1)).astype(np.float32),
            "layers.1.bias": np.zeros(1, np.float32),
        },
        metadata={"activation": "sigmoid"},
    )
    path = tmp_path / "bare.safetensors"
    path.write_bytes(blob)
    t = ("--target", server.target)
    code, out, err = run_main(capsys, *t, "import", str(path), "--name", "summary-bare")
    assert code == 0, err
    shown = lines(out)
    assert shown["task"] == "unknown"
    assert shown["fit"] == shown["accuracy"] == shown["final loss"] == "unknown"
    assert shown["steps"] == "unknown"
    code, out, _ = run_main(capsys, *t, "--json", "model", "summary-bare")
    data = json.loads(out)
    assert data["fit"] is None and data["accuracy"] is None and data["steps"] is None
    code, out, _ = run_main(capsys, *t, "models", "--name-prefix", "summary-bare")
    row = out.splitlines()[1]
    assert re.search(r" summary-bare +unknown +3-2-1 sigmoid +- +- +- +- +\d{4}-", row), row


def test_the_safetensors_export_keeps_the_original_summary(client, original):
    blob = client.get_weights(original, safetensors=True).safetensors
    info = client.import_model(blob)
    assert (info.fit, info.steps, info.seed_used, info.measured) == (
        original.fit,
        original.steps,
        original.seed_used,
        False,
    )


def test_a_task_that_does_not_fit_the_tensors_is_refused(client, original):
    document = client.get_weights(original).to_dict()
    document["spec"]["gate"]["num_inputs"] = 3
    with pytest.raises(ClientError) as err:
        client.import_model(json.dumps(document))
    assert err.value.code == "INVALID_ARGUMENT"
    assert err.value.message.startswith("json.spec: "), err.value.message
    assert "3 inputs" in err.value.message and "2" in err.value.message
