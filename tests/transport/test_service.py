"""GateService through the real server and the real client: results, errors, limits."""

from __future__ import annotations

import math
import struct

import grpc
import numpy as np
import pytest
import torch

from gatenet.client import Client, ClientError, build_train_request
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc
from gatenet.vocabulary.layers import ACTIVATIONS, bias_name, weight_name

ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


def expect_error(code: str, *fragments: str):
    """Context manager asserting a ClientError with this code and message fragments."""

    class _Expect:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind, err, tb) -> bool:
            assert kind is ClientError, f"expected {code}, got {kind and kind.__name__}: {err}"
            assert err.code == code, str(err)
            for fragment in fragments:
                assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
            return True

    return _Expect()


def test_xor_trains_and_predicts_its_truth_table(client):
    info = client.train(gate="xor")
    assert info.fit and info.accuracy == 1.0
    prediction = client.predict(info.model_id, ROWS)
    assert prediction.labels.tolist() == [0, 1, 1, 0]
    assert prediction.model_id == info.model_id


def test_same_request_and_seed_give_identical_weights(client):
    a = client.get_weights(client.train(gate="xnor", seed=42).model_id)
    b = client.get_weights(client.train(gate="xnor", seed=42).model_id)
    for name, tensor in a.tensors.items():
        assert np.array_equal(tensor, b.tensors[name]), name


def test_model_info_reports_the_resolved_spec(client):
    info = client.train(gate="and", seed=7, name="and-gate-info")
    got = client.get_model("and-gate-info")
    assert got.model_id == info.model_id
    assert got.spec["seed"] == 7  # a uint64: proto3 JSON writes "7", the client gives an int
    assert got.spec["steps"] > 0 and got.spec["learning_rate"] > 0
    assert got.loss_curve, "a loss curve is sampled"


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_predict_matches_a_torch_forward_of_the_weights(client, activation):
    info = client.train(
        truth_table=[0, 1, 1, 0, 1, 0, 0, 1], hidden_sizes=[5, 3], activation=activation, seed=3
    )
    weights = client.get_weights(info.model_id).tensors
    rows = np.random.default_rng(0).uniform(-2, 2, size=(64, 3)).astype(np.float32)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    h = torch.from_numpy(rows)
    layers = len(weights) // 2
    for i in range(layers):
        h = h @ torch.from_numpy(weights[weight_name(i)]) + torch.from_numpy(weights[bias_name(i)])
        h = torch.sigmoid(h) if i == layers - 1 else act(h)
    got = client.predict(info.model_id, rows)
    np.testing.assert_allclose(got.probabilities, h[:, 0].numpy(), atol=1e-6)
    assert got.labels.tolist() == (h[:, 0] > 0.5).int().tolist()


def test_safetensors_blob_holds_the_same_tensors(client, xor):
    from safetensors.numpy import load

    weights = client.get_weights(xor.model_id, safetensors=True)
    loaded = load(weights.safetensors)
    assert set(loaded) == set(weights.tensors)
    for name, tensor in weights.tensors.items():
        assert np.array_equal(loaded[name], tensor)


def test_list_and_delete(client):
    info = client.train(gate="or", name="listed-or")
    listed = {m.model_id for m in client.list_models(name_prefix="listed-")}
    assert info.model_id in listed
    assert client.delete_model("listed-or") == info.model_id
    with expect_error("NOT_FOUND", "listed-or"):
        client.predict("listed-or", ROWS)
    with expect_error("NOT_FOUND"):
        client.delete_model(info.model_id)


def test_list_pages_through_every_model(server, open_channel):
    stub = gatenet_pb2_grpc.GateServiceStub(open_channel(server.target))
    with Client(server.target) as c:
        for i in range(5):
            c.train(gate="nand", name=f"paged-{i}", restarts=1, steps=50, early_stop=False)
    names, token = [], ""
    while True:
        page = stub.ListModels(
            pb.ListModelsRequest(page_size=2, page_token=token, name_prefix="paged-")
        )
        assert len(page.models) <= 2
        names += [m.name for m in page.models]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"paged-{i}" for i in range(5)]


def test_duplicate_name_is_refused(client):
    client.train(gate="nor", name="unique-nor")
    with expect_error("ALREADY_EXISTS", "unique-nor"):
        client.train(gate="nor", name="unique-nor")


BAD_TRAIN = [
    ({"gate": "FOO"}, "gate.name", "FOO"),
    (
        pb.TrainRequest(truth_table=pb.TruthTableTask(num_inputs=2, outputs=[0, 1, 1])),
        "truth_table.outputs",
        "4",
    ),
    (
        pb.TrainRequest(truth_table=pb.TruthTableTask(num_inputs=2, outputs=[0, 1, 2, 0])),
        "truth_table.outputs",
        "2",
    ),
    (pb.TrainRequest(truth_table=pb.TruthTableTask(num_inputs=40)), "truth_table.num_inputs", "12"),
    ({"gate": "xor", "hidden_sizes": [100000]}, "hidden_sizes", "1024"),
    ({"gate": "xor", "steps": 0}, "steps", "0"),
    ({"gate": "xor", "steps": 10**9}, "steps", "1000000"),
    ({"gate": "xor", "learning_rate": 1e9}, "learning_rate", "1000"),
    ({"gate": "xor", "learning_rate": -1.0}, "learning_rate", "-1"),
    ({"gate": "xor", "method": "perceptron", "hidden_sizes": [4]}, "perceptron", "hidden"),
    ({"gate": "xor", "restarts": 100000}, "restarts", "1024"),
    ({"gate": "xor", "margin": 0.7}, "margin", "0.5"),
    ({"examples": ([[0.0, float("nan")]], [1])}, "examples.inputs", "finite"),
    ({"gate": "xor", "name": "team/xor"}, "name", "only a family member's name has"),
    ({"gate": "xor", "name": "x" * 201}, "name", "the limit 200"),
]


@pytest.mark.parametrize(
    ("options", "field", "bound"),
    BAD_TRAIN,
    ids=[f"{f[1]}-{i}" for i, f in enumerate(BAD_TRAIN)],
)
def test_bad_train_requests_name_the_field(
    server, client, xor, options, field, bound, open_channel
):
    request = options if isinstance(options, pb.TrainRequest) else build_train_request(**options)
    stub = gatenet_pb2_grpc.GateServiceStub(open_channel(server.target))
    with pytest.raises(grpc.RpcError) as err:
        stub.Train(request)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details() and bound in err.value.details(), err.value.details()
    assert client.predict(xor.model_id, ROWS).labels.tolist() == [0, 1, 1, 0]


def test_missing_task_is_invalid(server, open_channel):
    stub = gatenet_pb2_grpc.GateServiceStub(open_channel(server.target))
    with pytest.raises(grpc.RpcError) as err:
        stub.Train(pb.TrainRequest())
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "task" in err.value.details()


BAD_PREDICT = [
    (pb.PredictRequest(model="MODEL", inputs=[0, 1, 1]), "inputs", "multiple"),
    (pb.PredictRequest(model="MODEL", inputs=[0, 1, 1], num_features=3), "num_features", "2"),
    (pb.PredictRequest(model="MODEL", inputs=[]), "inputs", "empty"),
    (pb.PredictRequest(model="MODEL", inputs=[0, math.nan]), "inputs", "finite"),
    (pb.PredictRequest(model="MODEL", inputs=[0, math.inf]), "inputs", "finite"),
    (pb.PredictRequest(model="", inputs=[0, 1]), "model", "empty"),
]


@pytest.mark.parametrize(("request_", "field", "fragment"), BAD_PREDICT)
def test_bad_predict_requests_name_the_field(server, xor, request_, field, fragment, open_channel):
    stub = gatenet_pb2_grpc.GateServiceStub(open_channel(server.target))
    if request_.model == "MODEL":
        request_.model = xor.model_id
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details() and fragment in err.value.details()
    assert stub.Predict(pb.PredictRequest(model=xor.model_id, inputs=[0, 1])).labels == [1]


def test_predict_reads_any_valid_encoding_and_refuses_garbage(server, xor, open_channel):
    """Predict parses wire bytes itself: rows sent unpacked still count; junk is named."""
    call = open_channel(server.target).unary_unary("/gatenet.v1.GateService/Predict")
    model = pb.PredictRequest(model=xor.model_id).SerializeToString()
    unpacked = b"".join(b"\x15" + struct.pack("<f", v) for row in ROWS for v in row)
    reply = pb.PredictResponse.FromString(call(model + unpacked))
    assert list(reply.labels) == [0, 1, 1, 0]
    assert reply.model_id == xor.model_id
    with pytest.raises(grpc.RpcError) as err:
        call(b"\xff\xff")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "request: body is not a valid gatenet.v1.PredictRequest" in err.value.details()


def test_unknown_model_is_not_found(client):
    for call in (
        lambda: client.predict("no-such-model", ROWS),
        lambda: client.get_weights("no-such-model"),
        lambda: client.get_model("no-such-model"),
    ):
        with expect_error("NOT_FOUND", "no-such-model"):
            call()


def test_too_many_predict_rows(make_server):
    srv = make_server(max_predict_rows=8)
    with Client(srv.target) as c:
        model = c.train(gate="and").model_id
        with expect_error("INVALID_ARGUMENT", "inputs", "limit 8"):
            c.predict(model, [[0, 1]] * 9)


def test_predict_work_over_the_bound_is_refused_and_just_under_it_answered(
    make_server, wide_model_file
):
    srv = make_server(max_predict_work=1_000_000)
    rows = np.random.default_rng(0).uniform(-2, 2, size=(241, 64)).astype(np.float32)
    with Client(srv.target) as c:
        model = c.import_model(wide_model_file).model_id
        with expect_error("INVALID_ARGUMENT", "inputs", "241 rows", "limit 1000000", "work"):
            c.predict(model, rows)
        got = c.predict(model, rows[:240])
        weights = c.get_weights(model).tensors
    h = torch.sigmoid(
        torch.from_numpy(rows[:240]) @ torch.from_numpy(weights["layers.0.weight"])
        + torch.from_numpy(weights["layers.0.bias"])
    )
    p = torch.sigmoid(
        h @ torch.from_numpy(weights["layers.1.weight"]) + weights["layers.1.bias"][0]
    )
    np.testing.assert_allclose(got.probabilities, p[:, 0].numpy(), atol=1e-6)
    assert got.labels.tolist() == (p[:, 0] > 0.5).int().tolist()


def test_max_models_refuses_train_with_resource_exhausted(make_server):
    srv = make_server(max_models=2)
    with Client(srv.target) as c:
        kept = [c.train(gate="and").model_id, c.train(gate="or").model_id]
        with expect_error("RESOURCE_EXHAUSTED", "--max-models", "2"):
            c.train(gate="xor")
        c.delete_model(kept[0])
        c.train(gate="xor")
        assert c.predict(kept[1], ROWS).labels.tolist() == [0, 1, 1, 1]


def test_deadline_stops_training_and_registers_nothing(client):
    before = len(client.list_models())
    with expect_error("DEADLINE_EXCEEDED"):
        client.train(gate="xor", steps=1_000_000, early_stop=False, restarts=64, timeout=0.5)
    assert len(client.list_models()) == before
    # The worker is free again: a normal training completes right after.
    assert client.train(gate="xor").fit


def test_cancelled_stream_stops_training(server, client, open_channel):
    before = len(client.list_models())
    stub = gatenet_pb2_grpc.GateServiceStub(open_channel(server.target))
    call = stub.TrainStream(
        pb.TrainRequest(
            gate=pb.GateTask(name="xor"), steps=1_000_000, early_stop=False, restarts=64
        )
    )
    first = next(call)
    assert first.HasField("progress")
    call.cancel()
    assert client.train(gate="xor", timeout=30).fit
    assert len(client.list_models()) == before + 1


def test_stream_reports_progress_then_the_model(client):
    events = list(client.train_stream(gate="xor", steps=3000, early_stop=False, restarts=8))
    *progress, final = events
    assert progress, "at least one progress event"
    assert all(p.restarts == 8 for p in progress)
    assert [p.step for p in progress] == sorted(p.step for p in progress)
    assert final.model_id and final.steps == 3000


def test_predict_answers_while_models_train(server, client, xor, open_channel):
    stub = gatenet_pb2_grpc.GateServiceStub(open_channel(server.target))
    training = stub.Train.future(
        pb.TrainRequest(
            gate=pb.GateTask(name="xor"), steps=1_000_000, early_stop=False, restarts=16
        ),
        timeout=60,
    )
    for _ in range(100):
        assert client.predict(xor.model_id, ROWS, timeout=5).labels.tolist() == [0, 1, 1, 0]
    assert not training.done(), "the predictions were answered while the model trained"
    training.cancel()


def test_an_activation_alone_keeps_the_default_widths(client):
    """Naming only the activation must not narrow the network (3 inputs: 6 units)."""
    parity3 = [0, 1, 1, 0, 1, 0, 0, 1]
    named = client.train(truth_table=parity3, activation="sigmoid", seed=3)
    default = client.train(truth_table=parity3, seed=3)
    for info in (named, default):
        assert list(info.spec["network"]["hidden_sizes"]) == [6]
    assert named.spec["network"]["activation"] == "ACTIVATION_SIGMOID"


def test_no_hidden_layers_trains_a_single_layer(client):
    info = client.train(gate="and", hidden_sizes=[], method="autograd", seed=1)
    assert info.spec["network"].get("hidden_sizes", []) == []
    assert info.spec["network"]["no_hidden_layers"] is True
    weights = client.get_weights(info)
    assert sorted(weights.tensors) == ["layers.0.bias", "layers.0.weight"]
