"""Model files: `weights --json`, `export` (safetensors, JSON, ONNX), --initial-weights from
what `weights --json` printed, import sources, and clear lines when an extra is missing."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from gatenet.client import Weights, build_train_request, cli
from gatenet.client.cli.commands import train_options
from gatenet.client.export.model_files import is_safetensors
from gatenet.client.messages import import_request
from gatenet.vocabulary.layers import ACTIVATIONS
from gatenet_testing.cli_run import run_main

ROWS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def test_weights_json_has_activation_spec_and_tensors(server, xor, capsys):
    code, out, _ = run_main(capsys, "--target", server.target, "weights", xor.model_id, "--json")
    data = json.loads(out)
    assert code == 0 and list(data) == ["model_id", "activation", "spec", "tensors"]
    assert (data["model_id"], data["activation"]) == (xor.model_id, "tanh")
    assert data["spec"]["network"]["hidden_sizes"] == [4]
    assert data["spec"]["gate"]["name"] == "XOR"  # the resolved recipe names gates canonically
    assert data["tensors"]["layers.0.weight"]["shape"] == [2, 4]


def test_export_to_a_directory_writes_safetensors_and_json(server, xor, tmp_path, capsys):
    safetensors = pytest.importorskip("safetensors.numpy")
    t = ("--target", server.target)
    code, out, _ = run_main(capsys, *t, "export", xor.model_id, str(tmp_path))
    st, js = tmp_path / f"{xor.model_id}.safetensors", tmp_path / f"{xor.model_id}.json"
    assert code == 0 and out.splitlines() == [
        f"wrote {st} ({st.stat().st_size} bytes)",
        f"wrote {js} ({js.stat().st_size} bytes)",
    ]
    _, printed, _ = run_main(capsys, *t, "weights", xor.model_id, "--json")
    exported = json.loads(js.read_text())
    assert exported.pop("checksum").startswith("sha256:")  # what import checks the file by
    assert exported == json.loads(printed)
    loaded = safetensors.load_file(str(st))
    for name, tensor in json.loads(printed)["tensors"].items():
        np.testing.assert_array_equal(loaded[name].ravel(), tensor["values"])


def test_export_takes_the_format_from_the_extension_or_the_flag(server, xor, tmp_path, capsys):
    t = ("--target", server.target)
    code, _, _ = run_main(capsys, *t, "export", xor.model_id, "-o", str(tmp_path / "m.json"))
    assert code == 0 and json.loads((tmp_path / "m.json").read_text())["model_id"] == xor.model_id
    code, _, _ = run_main(
        capsys, *t, "export", xor.model_id, "-o", str(tmp_path / "m.bin"), "--format", "safetensors"
    )
    assert code == 0 and is_safetensors((tmp_path / "m.bin").read_bytes())
    code, out, err = run_main(capsys, *t, "export", xor.model_id, "-o", str(tmp_path / "m.bin"))
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: cannot tell the format of '{tmp_path / 'm.bin'}' from its extension;"
        " give --format safetensors|json|onnx"
    )


# -- ONNX ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", [[], [4], [3, 3, 3]], ids=["depth0", "depth1", "depth3"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnx_export_predicts_like_the_server(client, tmp_path, capsys, hidden, activation):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    info = client.train(
        gate="xor", hidden_sizes=hidden, activation=activation, seed=1, restarts=1, steps=60
    )
    assert len(client.get_weights(info).tensors) == 2 * (len(hidden) + 1)  # weight + bias each
    path = tmp_path / "model.onnx"
    assert (
        run_main(capsys, "--target", client.target, "export", info.model_id, "-o", str(path))[0]
        == 0
    )
    rows = np.vstack([ROWS, np.random.default_rng(0).uniform(-1, 2, (64, 2))]).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("inputs", ["batch", 2])]
    assert [(o.name, o.type) for o in session.get_outputs()] == [
        ("probability", "tensor(float)"),
        ("label", "tensor(int64)"),
    ]
    probability, label = session.run(None, {"inputs": rows})
    served = client.predict(info, rows)
    assert probability.shape == (len(rows), 1) and label.shape == (len(rows), 1)
    np.testing.assert_allclose(probability.ravel(), served.probabilities, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label.ravel(), served.labels)


def test_onnx_model_passes_the_checker_with_the_stated_opset(client):
    onnx = pytest.importorskip("onnx")
    from gatenet.client.export import onnx_export

    model = client.get_weights(client.train(gate="and", hidden_sizes=[2], steps=20)).to_onnx()
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", onnx_export.OPSET)]
    assert model.ir_version == onnx_export.IR_VERSION


MISSING = """
import sys
sys.modules[{module!r}] = None  # as if it were not installed
from gatenet.client import cli
sys.exit(cli.main({argv!r}))
"""


def test_onnx_export_without_onnx_says_which_extra(server, xor, tmp_path):
    argv = ["--target", server.target, "export", xor.model_id, "-o", str(tmp_path / "m.onnx")]
    code = MISSING.format(module="onnx", argv=argv)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: Weights.to_onnx needs onnx: pip install 'gatenet[onnx]'\n"
    assert not (tmp_path / "m.onnx").exists()


def test_to_torch_without_torch_says_which_extra():
    code = """
import sys
sys.modules["torch"] = None  # as if it were not installed
import numpy as np
from gatenet.client import Weights
weights = Weights("m", {"layers.0.weight": np.ones((2, 1), np.float32)}, {})
try:
    weights.to_torch()
except ImportError as err:
    print(type(err).__name__, err)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout == (
        "MissingExtra Weights.to_torch needs torch: pip install 'gatenet[torch]'\n"
    )


# -- initial weights from `weights --json` --------------------------------------------------


def test_initial_weights_read_what_weights_json_printed(server, xor, tmp_path, capsys):
    t = ("--target", server.target)
    _, printed, _ = run_main(capsys, *t, "weights", xor.model_id, "--json")
    path = tmp_path / "a.json"
    path.write_text(printed)
    a = json.loads(printed)["tensors"]
    flags = ["--gate", "xor", "--hidden", "4", "--activation", "tanh", "--initial-weights"]
    args = cli.build_parser().parse_args(["train", *flags, str(path)])
    request = build_train_request(**train_options(args))
    sent = {
        t.name: {"shape": list(t.shape), "values": list(t.values)} for t in request.initial_weights
    }
    assert sent == a  # exactly A's tensors, float32 for float32
    recipe = ["--method", "autograd", "--optimizer", "sgd", "--lr", "1e-9", "--steps", "1"]
    recipe += ["--restarts", "1", "--no-early-stop", "--name", "from-a"]
    code, out, err = run_main(capsys, *t, "train", *flags, str(path), *recipe, "--json")
    assert code == 0, err
    _, b_printed, _ = run_main(capsys, *t, "weights", "from-a", "--json")
    b = json.loads(b_printed)["tensors"]  # one step at lr 1e-9: still A's weights
    for name, tensor in a.items():
        np.testing.assert_allclose(b[name]["values"], tensor["values"], atol=1e-6)


def test_initial_weights_still_read_plain_nested_lists(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"layers.0.weight": [[1.0], [1.0]], "layers.0.bias": [-1.5]}))
    args = cli.build_parser().parse_args(["train", "--gate", "and", "--initial-weights", str(path)])
    request = build_train_request(**train_options(args))
    assert [(t.name, list(t.shape)) for t in request.initial_weights] == [
        ("layers.0.weight", [2, 1]),
        ("layers.0.bias", [1]),
    ]


# -- import sources (the request built; the server's answer is in test_client_import.py) ----


def safetensors_bytes() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack("<f", 1.0)


def test_import_sources_are_told_apart(tmp_path):
    blob = safetensors_bytes()
    document = json.dumps({"model_id": "a", "tensors": {}})
    assert import_request(blob).safetensors == blob
    assert import_request(document, name="n").json == document
    assert import_request(document.encode()).WhichOneof("source") == "json"
    (tmp_path / "m.safetensors").write_bytes(blob)
    (tmp_path / "m.json").write_text(document)
    assert import_request(tmp_path / "m.safetensors").safetensors == blob
    assert import_request(str(tmp_path / "m.json")).json == document
    assert import_request(document, name="n").name == "n"


def test_import_rejects_what_is_neither(tmp_path):
    with pytest.raises(ValueError, match="not a safetensors file nor the JSON"):
        import_request(b"\x00\x01garbage")
    with pytest.raises(ValueError, match='no "tensors" object'):
        import_request('{"model_id": "a"}')
    with pytest.raises(FileNotFoundError):
        import_request(str(tmp_path / "missing.json"))


def test_weights_to_dict_round_trips_through_json():
    weights = Weights("m", {"layers.0.weight": np.ones((2, 1), np.float32)}, {})
    assert json.loads(json.dumps(weights.to_dict()))["activation"] == "tanh"
