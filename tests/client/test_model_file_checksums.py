"""Exported model files carry a checksum; a damaged file is refused by the client and by
ImportModel (DATA_LOSS naming the field), never imported as a different model."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import grpc
import pytest

from gatenet.client import Client, cli
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def exported(server, tmp_path: Path, capsys) -> tuple[Path, Path]:
    """A trained model exported by `gatenet export MODEL DIR`: (safetensors, json)."""
    with Client(server.target, timeout=60) as c:
        model = c.train(gate="xor", seed=2).model_id
    code, _, err = _run(capsys, "--target", server.target, "export", model, str(tmp_path))
    assert code == 0, err
    return tmp_path / f"{model}.safetensors", tmp_path / f"{model}.json"


def _flip_last_value(path: Path) -> None:
    """Flip a low mantissa bit of the last float32 in a safetensors file's data."""
    data = bytearray(path.read_bytes())
    data[-4] ^= 0x01
    path.write_bytes(bytes(data))


def _nudge_json(path: Path) -> None:
    doc = json.loads(path.read_text())
    values = doc["tensors"]["layers.0.weight"]["values"]
    values[0] = values[0] + 0.25
    path.write_text(json.dumps(doc))


def _safetensors_metadata(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size])["__metadata__"]


def test_both_files_carry_the_same_checksum_and_import(server, exported, capsys):
    st, js = exported
    checksum = _safetensors_metadata(st)["checksum"]
    assert checksum.startswith("sha256:")
    assert json.loads(js.read_text())["checksum"] == checksum
    for path in (st, js):
        code, _, err = _run(capsys, "--target", server.target, "import", str(path))
        assert code == 0, err


@pytest.mark.parametrize("kind", ["safetensors", "json"])
def test_a_damaged_file_is_refused_by_the_client_and_the_server(server, exported, capsys, kind):
    st, js = exported
    path = st if kind == "safetensors" else js
    (_flip_last_value if kind == "safetensors" else _nudge_json)(path)
    code, _, err = _run(capsys, "--target", server.target, "import", str(path))
    assert code == 2 and "damaged" in err, err  # a bad local file: a usage error
    payload = path.read_bytes() if kind == "safetensors" else path.read_text()
    with grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.GateServiceStub(channel).ImportModel(
                pb.ImportModelRequest(**{kind: payload}), timeout=30
            )
    assert caught.value.code() is grpc.StatusCode.DATA_LOSS
    assert caught.value.details().startswith(f"{kind}: ")
    assert "checksum" in caught.value.details()
