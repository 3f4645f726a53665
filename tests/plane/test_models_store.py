"""Models over the store: the byte-capped cache, import and export, repeating a stored recipe."""

from __future__ import annotations

import json
import math

import grpc
import numpy as np
import pytest
from safetensors.numpy import save

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

ROWS = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]


@pytest.fixture
def stub(server, open_channel):
    channel = open_channel(server.target)
    yield pb_grpc.GateServiceStub(channel)


def _tensors(response: pb.GetWeightsResponse) -> dict[str, np.ndarray]:
    return {
        t.name: np.asarray(t.values, dtype=np.float32).reshape(list(t.shape))
        for t in response.tensors
    }


def _predict(stub, model: str) -> list[float]:
    return list(stub.Predict(pb.PredictRequest(model=model, inputs=ROWS)).probabilities)


def _train(stub, **fields) -> pb.ModelInfo:
    return stub.Train(pb.TrainRequest(gate=pb.GateTask(name="xor"), **fields))


def test_evicted_models_predict_right_by_reading_through(make_server, open_channel):
    cap = 3_000  # three or four 2-4-1 models
    srv = make_server(cache_bytes=cap)
    channel = open_channel(srv.target)
    stub = pb_grpc.GateServiceStub(channel)
    trained = [_train(stub, seed=i) for i in range(12)]
    answers = {m.model_id: _predict(stub, m.model_id) for m in trained}
    for model_id, expected in answers.items():
        assert _predict(stub, model_id) == expected
    sample = srv.prometheus_registry.get_sample_value
    assert sample("gatenet_cache_bytes") <= cap
    assert sample("gatenet_cache_evictions_total") > 0
    assert sample("gatenet_cache_misses_total") > 0
    assert sample("gatenet_models") == 12


def test_training_again_from_the_stored_recipe_gives_bit_equal_weights(stub):
    first = _train(stub, network=pb.Network(hidden_sizes=[3], activation=pb.ACTIVATION_SIGMOID))
    stored = stub.GetModel(pb.GetModelRequest(model=first.model_id))
    spec = stored.spec
    assert spec.seed and spec.restarts == 12 and spec.method == pb.METHOD_MANUAL
    assert spec.gate.name == "XOR" and list(spec.network.hidden_sizes) == [3]
    again = stub.Train(spec)
    a = _tensors(stub.GetWeights(pb.GetWeightsRequest(model=first.model_id)))
    b = _tensors(stub.GetWeights(pb.GetWeightsRequest(model=again.model_id)))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_explicit_initial_weights_are_recorded_and_repeat(stub):
    seedling = _train(stub, network=pb.Network(hidden_sizes=[2]), steps=1)
    start = stub.GetWeights(pb.GetWeightsRequest(model=seedling.model_id)).tensors
    first = _train(stub, network=pb.Network(hidden_sizes=[2]), initial_weights=start, steps=50)
    stored = stub.GetModel(pb.GetModelRequest(model=first.model_id)).spec
    assert [t.name for t in stored.initial_weights] == [t.name for t in start]
    again = stub.Train(stored)
    assert _predict(stub, again.model_id) == _predict(stub, first.model_id)


def test_a_safetensors_export_imports_as_the_same_model(stub):
    original = _train(stub, name="to-export")
    exported = stub.GetWeights(pb.GetWeightsRequest(model="to-export", include_safetensors=True))
    imported = stub.ImportModel(
        pb.ImportModelRequest(safetensors=exported.safetensors, name="imported")
    )
    assert imported.imported_from == original.model_id
    assert imported.model_id != original.model_id and imported.name == "imported"
    assert imported.summary == original.summary and imported.spec.gate.name == "XOR"
    again = stub.GetWeights(pb.GetWeightsRequest(model="imported"))
    assert [t.SerializeToString() for t in again.tensors] == [
        t.SerializeToString() for t in exported.tensors
    ]
    assert _predict(stub, "imported") == _predict(stub, "to-export")


def test_the_weights_json_imports_as_the_same_model(stub):
    original = _train(stub, network=pb.Network(activation=pb.ACTIVATION_RELU, hidden_sizes=[5]))
    weights = stub.GetWeights(pb.GetWeightsRequest(model=original.model_id))
    document = {
        "model_id": original.model_id,
        "activation": "relu",
        "tensors": {
            t.name: {"shape": list(t.shape), "values": list(t.values)} for t in weights.tensors
        },
    }
    imported = stub.ImportModel(pb.ImportModelRequest(json=json.dumps(document)))
    assert imported.imported_from == original.model_id
    assert list(imported.spec.network.hidden_sizes) == [5]
    assert _predict(stub, imported.model_id) == _predict(stub, original.model_id)


def _layer(n_in: int, n_out: int) -> dict[str, np.ndarray]:
    return {
        "layers.0.weight": np.ones((n_in, n_out), np.float32),
        "layers.0.bias": np.zeros(n_out, np.float32),
    }


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"safetensors": b"\x00\x01"}, "safetensors: 2 bytes is not a safetensors file"),
        ({"safetensors": b"\x10" + bytes(7) + b"not json at all!"}, "its header is not JSON"),
        ({"safetensors": save(_layer(2, 1))}, "activation '' is not one of"),
        (
            {"safetensors": save(_layer(2, 3), metadata={"activation": "tanh"})},
            "the output layer has 3 units",
        ),
        (
            {
                "safetensors": save(
                    {"layers.0.weight": np.ones((2, 1), np.float32)},
                    metadata={"activation": "tanh"},
                )
            },
            "missing ['layers.0.bias']",
        ),
        (
            {
                "safetensors": save(
                    {**_layer(2, 1), "layers.0.bias": np.array([math.nan], np.float32)},
                    metadata={"activation": "tanh"},
                )
            },
            "layers.0.bias holds NaN",
        ),
        ({"json": "{not json"}, "json: is not JSON"),
        ({"json": json.dumps({"activation": "tanh"})}, 'needs an object with "tensors"'),
        (
            {
                "json": json.dumps(
                    {
                        "activation": "tanh",
                        "tensors": {
                            "layers.0.weight": {"shape": [2, 1], "values": [1.0]},
                            "layers.0.bias": {"shape": [1], "values": [0.0]},
                        },
                    }
                )
            },
            "json.tensors['layers.0.weight']: needs shape and matching values",
        ),
        ({}, "source: is missing"),
    ],
)
def test_bad_files_are_invalid_argument_naming_what_is_wrong(stub, request_fields, message):
    with pytest.raises(grpc.RpcError) as err:
        stub.ImportModel(pb.ImportModelRequest(**request_fields))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()
