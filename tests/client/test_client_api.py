"""The client's public surface: one definition shared by Client and AsyncClient, the requests
it builds for the network, and the x-model-id routing header seen by a real gRPC server."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import inspect
from collections.abc import Iterator
from concurrent import futures

import grpc
import numpy as np
import pytest

import gatenet.client
from gatenet.client import AsyncClient, Client, ModelInfo, build_train_request, plans, rpcs
from gatenet.client.messages import predict_request
from gatenet.client.results import SUMMARY_FIELDS
from gatenet.v1 import gatenet_pb2 as pb

PUBLIC = ["train", "train_stream", "predict", "get_weights", "list_models", "get_model"]
PUBLIC += ["delete_model", "import_model", "health"]


def test_the_public_names_are_pinned():
    assert gatenet.client.__all__ == [
        "AsyncClient",
        "Client",
        "ClientError",
        "ModelInfo",
        "Prediction",
        "Progress",
        "Weights",
        "build_train_request",
    ]


def test_both_clients_have_the_same_calls_with_the_same_signatures():
    for name in PUBLIC:
        sync, aio = getattr(Client, name), getattr(AsyncClient, name)
        assert inspect.signature(sync).parameters == inspect.signature(aio).parameters, name
        assert sync.__doc__ == aio.__doc__ and sync.__doc__, name
        assert inspect.iscoroutinefunction(aio) == (name != "train_stream"), name
    predict = inspect.signature(Client.predict)
    assert list(predict.parameters) == ["self", "model", "rows", "timeout"]
    assert predict.parameters["timeout"].default is None
    assert "Unpack[TrainOptions]" in str(inspect.signature(Client.train))


def _called(function: object) -> set[str]:
    """The dotted names function's source calls, e.g. {"plans.train", "build_train_request"}."""
    tree = ast.parse(inspect.getsource(function).strip())  # type: ignore[arg-type]
    return {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}


def test_go_to_definition_leads_from_each_call_to_its_request_builder():
    # Each call is a def in the class body (no wrapper made at import, no patched signature),
    # which calls its plan by name, which calls the request's builder by name.
    builders = {"train": "build_train_request", "train_stream": "build_train_request"}
    builders |= {"predict": "predict_request", "get_weights": "weights_request"}
    builders |= {"list_models": "list_request", "get_model": "get_model_request"}
    builders |= {"delete_model": "delete_request", "import_model": "import_request"}
    builders |= {"health": "health_request"}
    for cls in (Client, AsyncClient):
        for name in PUBLIC:
            method = vars(cls)[name]
            assert method.__code__.co_name == name, f"{cls.__name__}.{name}"
            assert "__signature__" not in vars(method), f"{cls.__name__}.{name}"
            assert f"plans.{name}" in _called(method), f"{cls.__name__}.{name}"
    for name in PUBLIC:
        assert builders[name] in _called(getattr(plans, name)), name


def test_every_gate_service_rpc_is_in_the_table_once():
    table = [v for v in vars(rpcs).values() if isinstance(v, rpcs.Rpc)]
    gate = sorted(r.method for r in table if r.service == "gate")
    assert gate == sorted(m.name for m in pb.DESCRIPTOR.services_by_name["GateService"].methods)
    addressed = {r.method for r in table if r.route is not None}
    assert addressed == {
        "Predict",
        "GetWeights",
        "GetWeightsChunked",
        "GetModel",
        "GetFamily",
        "DeleteModel",
    }
    retried = {r.method for r in table if r.idempotent}
    assert retried == {
        "Predict",
        "GetWeights",
        "GetWeightsChunked",
        "ListModels",
        "GetModel",
        "GetFamily",
        "Check",
    }


def test_model_info_has_every_summary_field_once():
    fields = [f.name for f in dataclasses.fields(ModelInfo)]
    assert len(SUMMARY_FIELDS) == 12 and set(SUMMARY_FIELDS) <= set(fields)
    assert len(fields) == len(set(fields))
    summary = pb.TrainSummary(fit=True, accuracy=0.75, steps=7, seed_used=2**40, train_seconds=1.5)
    info = ModelInfo.from_proto(pb.ModelInfo(model_id="m", summary=summary, imported_from="a"))
    assert (info.fit, info.accuracy, info.steps, info.seed_used) == (True, 0.75, 7, 2**40)
    assert (info.train_seconds, info.imported_from) == (1.5, "a")


# -- no invented widths -------------------------------------------------------------------


def test_hidden_none_leaves_the_widths_to_the_server():
    request = build_train_request(gate="xor")
    assert not request.HasField("network")
    request = build_train_request(gate="xor", activation="relu")
    assert list(request.network.hidden_sizes) == [] and not request.network.no_hidden_layers
    assert request.network.activation == pb.ACTIVATION_RELU


def test_hidden_empty_is_no_hidden_layer():
    request = build_train_request(gate="and", hidden_sizes=[])
    assert request.network.no_hidden_layers and list(request.network.hidden_sizes) == []
    request = build_train_request(gate="and", hidden_sizes=(), method="perceptron")
    assert request.network.no_hidden_layers


def test_hidden_sizes_are_sent_as_given():
    request = build_train_request(gate="xor", hidden_sizes=[3, 2], activation="sigmoid")
    assert list(request.network.hidden_sizes) == [3, 2] and not request.network.no_hidden_layers
    assert request.network.activation == pb.ACTIVATION_SIGMOID


def test_the_invented_default_width_is_gone():
    import gatenet.client.messages as messages

    assert not hasattr(messages, "DEFAULT_HIDDEN")


# -- the routing header, seen by a real gRPC server -----------------------------------------


class Recorder(grpc.GenericRpcHandler):
    """Answers every method with an empty message and records its name and metadata."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method.rsplit("/", 1)[-1]
        self.calls.append((method, dict(handler_call_details.invocation_metadata)))
        return grpc.unary_unary_rpc_method_handler(lambda request, context: b"")


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    handler = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield handler, f"127.0.0.1:{port}"
    server.stop(None)


def _headers(calls: list[tuple[str, dict[str, str]]]) -> dict[str, str | None]:
    return {method: metadata.get("x-model-id") for method, metadata in calls}


EXPECTED = {
    "Predict": "by-name",
    "GetWeights": "0123abcd",
    "GetModel": "0123abcd",
    "DeleteModel": "by-name",
    "ListModels": None,
    "Check": None,
}


def test_calls_addressed_to_one_model_send_x_model_id(recorder):
    handler, target = recorder
    info = ModelInfo.from_proto(pb.ModelInfo(model_id="0123abcd"))
    with Client(target, token="t") as client:
        client.predict("by-name", [[0, 1]])
        client.get_weights("0123abcd")
        client.get_model(info)
        client.delete_model("by-name")
        client.list_models()
        client.health()
    assert _headers(handler.calls) == EXPECTED
    assert all(m["authorization"] == "Bearer t" for _, m in handler.calls)


def test_async_calls_addressed_to_one_model_send_x_model_id(recorder):
    handler, target = recorder
    info = ModelInfo.from_proto(pb.ModelInfo(model_id="0123abcd"))

    async def run() -> None:
        async with AsyncClient(target) as client:
            await client.predict("by-name", [[0, 1]])
            await client.get_weights("0123abcd")
            await client.get_model(info)
            await client.delete_model("by-name")
            await client.list_models()
            await client.health()

    asyncio.run(run())
    assert _headers(handler.calls) == EXPECTED


def test_training_and_import_are_not_routed(recorder):
    handler, target = recorder
    with Client(target) as client:
        client.train(gate="xor")
        client.import_model(b'{"tensors": {}}')
    assert [m for m, _ in handler.calls] == ["Train", "ImportModel"]
    assert all("x-model-id" not in metadata for _, metadata in handler.calls)


@pytest.mark.parametrize(
    "model, rows",
    [
        ("xor", [[0, 1], [1, 1]]),
        ("ü-名前" * 30, np.random.default_rng(0).normal(size=(300, 64))),  # long varints
        ("a" * 32, [[float("nan"), float("inf"), -0.0, 3.4e38]]),
        ("m", np.zeros((0, 3))),
    ],
)
def test_a_predict_request_is_the_message_protobuf_builds(model, rows):
    matrix = np.asarray(rows, dtype=np.float32)
    expected = pb.PredictRequest(
        model=model, inputs=matrix.ravel().tolist(), num_features=matrix.shape[1]
    )
    built = predict_request(model, rows)
    assert built.SerializeToString() == expected.SerializeToString()
