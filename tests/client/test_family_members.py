"""A family's members are models: Predict, ModelInfer, GetWeights and export as FAMILY/TABLE;
the family is one stored record that lists as one row, reads back, survives a restart and
takes its members with it when deleted."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from gatenet.client import Client, ClientError
from gatenet.inference import grpc_service_pb2 as v2
from gatenet.inference import grpc_service_pb2_grpc as v2_grpc
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet_testing.http_support import request

ROWS2 = [[0, 0], [0, 1], [1, 0], [1, 1]]


def _labels(c: Client, model: str) -> list[int]:
    return c.predict(model, ROWS2).labels.tolist()


def test_every_member_predicts_its_own_table(client):
    family = client.train_family(2, "mem-fam2", widths=(0, 2), seed=0)
    assert family.fit == 16
    for member in family.members:
        assert _labels(client, f"mem-fam2/{member.table}") == [int(b) for b in member.table]
    assert _labels(client, "mem-fam2/0,1,1,0") == [0, 1, 1, 0]  # as --table takes it
    weights = client.get_weights("mem-fam2/0,1,1,0")
    assert weights.tensors["layers.0.weight"].shape == (2, 2)  # XOR's smallest width is 2
    assert weights.model_id == f"{family.family_id}/0110"
    spec = weights.spec
    assert list(spec["truth_table"]["outputs"]) == [0, 1, 1, 0]
    assert spec["network"]["hidden_sizes"] == [2]
    nor = client.get_weights("mem-fam2/1000")  # separable: no hidden layer
    assert set(nor.tensors) == {"layers.0.weight", "layers.0.bias"}


def test_a_member_answers_model_infer(client, server, open_channel):
    client.train_family(3, "mem-fam3", hidden=4, tables=["0,1,1,0,1,0,0,1"], seed=0)
    rows = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], np.float32)
    tensor = v2.ModelInferRequest.InferInputTensor(name="inputs", datatype="FP32", shape=[8, 3])
    tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    stub = v2_grpc.GRPCInferenceServiceStub(open_channel(server.target))
    answer = stub.ModelInfer(v2.ModelInferRequest(model_name="mem-fam3/01101001", inputs=[tensor]))
    kinds = {"FP32": "<f4", "BOOL": np.bool_}
    got = {
        out.name: np.frombuffer(raw, dtype=kinds[out.datatype]).reshape(out.shape)
        for out, raw in zip(answer.outputs, answer.raw_output_contents, strict=True)
    }
    probabilities = next(v for v in got.values() if v.dtype != np.bool_).ravel()
    assert (probabilities > 0.5).astype(int).tolist() == [0, 1, 1, 0, 1, 0, 0, 1]


def test_a_member_answers_v2_rest_with_its_slash_written_percent_2f(client, server):
    client.train_family(2, "mem-rest", widths=(0, 2), seed=0)
    base = f"http://127.0.0.1:{server.http.port}/v2/models/mem-rest%2F0,1,1,0"
    body = {"inputs": [{"name": "inputs", "datatype": "FP32", "shape": [4, 2], "data": ROWS2}]}
    answer = request(base + "/infer", json.dumps(body).encode())
    assert answer.status == 200 and answer.json()["model_name"] == "mem-rest/0,1,1,0"
    labels = next(o for o in answer.json()["outputs"] if o["datatype"] == "BOOL")["data"]
    assert labels == [False, True, True, False]
    assert request(base).json()["inputs"][0]["shape"] == [-1, 2]
    assert request(base + "/ready").json() == {"name": "mem-rest/0,1,1,0", "ready": True}


def test_the_family_lists_as_one_row_and_reads_back_with_its_recipe(client, server, open_channel):
    family = client.train_family(2, "mem-row", widths=(0, 0), seed=0)
    stub = pb_grpc.GateServiceStub(open_channel(server.target))
    listed = stub.ListModels(pb.ListModelsRequest(name_prefix="mem-row")).models
    assert [m.name for m in listed] == ["mem-row"]
    row = listed[0]
    assert row.model_id == family.family_id and row.HasField("family")
    assert (row.family.functions, row.family.fit, dict(row.family.fit_by_width)) == (
        16,
        14,
        {0: 14},
    )
    assert not row.family.members  # the capacity table, not 16 rows
    got = stub.GetModel(pb.GetModelRequest(model="mem-row"))
    assert got.family.fit == 14 and got.spec.restarts == 4 and got.spec.seed == 0
    assert got.spec.network.no_hidden_layers
    with pytest.raises(grpc.RpcError) as err:  # XOR did not fit without a hidden layer
        stub.Predict(pb.PredictRequest(model="mem-row/0,1,1,0", inputs=[0, 1]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "did not fit at any width" in err.value.details()
    with pytest.raises(ClientError) as caught:
        client.predict("mem-row", [[0, 1]])
    assert caught.value.code == "INVALID_ARGUMENT" and "is a family" in caught.value.message


def test_deleting_the_family_removes_its_members(client):
    client.train_family(2, "mem-del", widths=(0, 2), seed=0)
    assert _labels(client, "mem-del/0,0,0,1") == [0, 0, 0, 1]  # cached now
    client.delete_model("mem-del")
    for ref in ("mem-del/0,0,0,1", "mem-del/0110", "mem-del"):
        with pytest.raises(ClientError) as err:
            client.predict(ref, ROWS2)
        assert err.value.code == "NOT_FOUND"


def test_the_family_survives_a_restart(make_server, tmp_path):
    data = str(tmp_path / "data")
    srv = make_server(store="sqlite", data_dir=data)
    with Client(srv.target, timeout=120) as c:
        family = c.train_family(2, "mem-kept", widths=(0, 2), classes=True, seed=0)
        before = c.predict("mem-kept/0110", ROWS2).probabilities
    srv.stop(0)
    again = make_server(store="sqlite", data_dir=data)
    with Client(again.target, timeout=60) as c:
        assert c.get_model("mem-kept").model_id == family.family_id
        np.testing.assert_array_equal(c.predict("mem-kept/0110", ROWS2).probabilities, before)
        assert [m.name for m in c.list_models(name_prefix="mem-kept")] == ["mem-kept"]


def test_gatenet_models_shows_the_family_with_its_counts(client, server, capsys):
    from gatenet_testing.cli_run import run_main

    client.train_family(2, "mem-cli", widths=(0, 0), seed=0)
    code, out, err = run_main(
        capsys, "--target", server.target, "models", "--name-prefix", "mem-cli"
    )
    assert code == 0, err
    row = out.splitlines()[1].split()
    assert row[1:6] == ["mem-cli", "family(16", "of", "2)", "widths"] and "14/16" in row
    info = client.get_model("mem-cli")
    assert info.family["fit"] == 14 and info.family["functions"] == 16


def test_get_family_lists_every_member_and_plot_draws_the_capacity(
    client, server, tmp_path, capsys
):
    from gatenet_testing.cli_run import run_main

    trained = client.train_family(3, "mem-plot", widths=(0, 4), classes=True, seed=0)
    family = client.get_family("mem-plot")
    assert family.fit == 256 and family.fit_by_width == trained.fit_by_width
    assert [(m.table, m.width) for m in family.members] == [
        (m.table, m.width) for m in trained.members
    ]
    with pytest.raises(ClientError) as err:
        client.get_family("mem-plot/0,0,0,0,0,0,0,1")
    assert err.value.code == "NOT_FOUND"
    out = tmp_path / "cap.png"
    code, _, stderr = run_main(
        capsys, "--target", server.target, "plot", "mem-plot", "-o", str(out), "--size", "640x360"
    )
    assert code == 0, stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.read_bytes()[16:24] == (640).to_bytes(4, "big") + (360).to_bytes(4, "big")
