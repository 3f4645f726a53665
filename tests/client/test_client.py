"""The Python client: request building, the wire behaviour (retries, deadlines, token, paging,
cancellation) against a small fake GateService on a real gRPC server, and the real server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gatenet.client import AsyncClient, Client, ClientError, ModelInfo, Progress
from gatenet.client import build_train_request as build
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet.vocabulary.enums import choices
from gatenet_testing.pki import make_pki

XOR_ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


class FakeGateService(pb_grpc.GateServiceServicer):
    """Echoes requests into canned answers and fails on demand; records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, dict[str, str]]] = []
        self.fail: dict[str, list[grpc.StatusCode]] = {}  # method -> codes to answer first
        self.models: dict[str, pb.ModelInfo] = {}
        self.cancelled = threading.Event()

    def _enter(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        self.calls.append((method, request, dict(context.invocation_metadata())))
        if self.fail.get(method):
            context.abort(self.fail[method].pop(0), f"{method} failed on purpose")

    def count(self, method: str) -> int:
        return sum(1 for name, _, _ in self.calls if name == method)

    def _model(self, request: pb.TrainRequest) -> pb.ModelInfo:
        spec = pb.TrainRequest()
        spec.CopyFrom(request)
        del spec.initial_weights[:]
        model_id = f"m{len(self.models) + 1}"
        info = pb.ModelInfo(
            model_id=model_id,
            name=request.name,
            spec=spec,
            num_inputs=2,
            created_at=1700000000.0,
            summary=pb.TrainSummary(
                fit=True,
                accuracy=1.0,
                final_loss=0.01,
                steps=request.steps or 100,
                restarts=1,
                seed_used=2**40,
                margin_reached=0.4,
                train_seconds=0.5,
            ),
            loss_curve=[pb.LossPoint(step=0, loss=0.7), pb.LossPoint(step=100, loss=0.01)],
        )
        self.models[model_id] = info
        return info

    def Train(self, request, context):
        self._enter("Train", request, context)
        if request.name == "slow":  # hold until the client's deadline ends the call
            done = threading.Event()
            context.add_callback(done.set)
            done.wait(10)
            return pb.ModelInfo()
        return self._model(request)

    def TrainStream(self, request, context):
        self._enter("TrainStream", request, context)
        context.add_callback(self.cancelled.set)
        steps = 10**9 if request.name == "forever" else 3
        for step in range(1, steps + 1):
            if not context.is_active():
                return
            yield pb.TrainEvent(progress=pb.TrainProgress(step=step * 10, best_loss=1 / step))
        yield pb.TrainEvent(model=self._model(request))

    def Predict(self, request, context):
        self._enter("Predict", request, context)
        if request.model not in self.models:
            context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model!r} not found")
        rows = np.asarray(request.inputs, dtype=np.float32).reshape(-1, request.num_features)
        p = rows.mean(axis=1)
        return pb.PredictResponse(
            model_id=request.model, probabilities=p.tolist(), labels=(p > 0.5).astype(int)
        )

    def GetWeights(self, request, context):
        self._enter("GetWeights", request, context)
        w0 = np.arange(8, dtype=np.float32).reshape(2, 4) / 8 - 0.5
        tensors = {
            "layers.0.weight": w0,
            "layers.0.bias": np.full(4, 0.1, np.float32),
            "layers.1.weight": np.ones((4, 1), np.float32),
            "layers.1.bias": [-1.0],
        }
        return pb.GetWeightsResponse(
            model_id=request.model,
            tensors=[
                pb.Tensor(name=k, shape=np.shape(v), values=np.ravel(v)) for k, v in tensors.items()
            ],
            spec=self.models[request.model].spec,
            safetensors=b"blob" if request.include_safetensors else b"",
        )

    def ListModels(self, request, context):
        self._enter("ListModels", request, context)
        models = [m for m in self.models.values() if m.name.startswith(request.name_prefix)]
        start = int(request.page_token or 0)
        end = start + (request.page_size or 100)
        return pb.ListModelsResponse(
            models=models[start:end],
            next_page_token=str(end) if end < len(models) else "",
            total=len(self.models),
        )

    def GetModel(self, request, context):
        self._enter("GetModel", request, context)
        if request.model not in self.models:
            context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model!r} not found")
        return self.models[request.model]

    def DeleteModel(self, request, context):
        self._enter("DeleteModel", request, context)
        self.models.pop(request.model)
        return pb.DeleteModelResponse(model_id=request.model)


@pytest.fixture
def fake() -> Iterator[tuple[FakeGateService, str]]:
    """A FakeGateService and the health service on a real gRPC server on 127.0.0.1:0."""
    servicer = FakeGateService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_GateServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("gatenet.v1.GateService", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


# -- building requests (no server) -------------------------------------------------------


def test_string_options_map_to_enums():
    request = build(
        gate="xor",
        activation="tanh",
        schedule="mini_batch",
        init="scaled_normal",
        method="manual",
        loss="mse",
        reduction="sum",
        optimizer="sgd",
    )
    assert request.network.activation == pb.ACTIVATION_TANH
    assert request.schedule == pb.SCHEDULE_MINI_BATCH
    assert request.init == pb.INIT_SCALED_NORMAL
    assert (request.method, request.loss, request.reduction, request.optimizer) == (
        pb.METHOD_MANUAL,
        pb.LOSS_MSE,
        pb.REDUCTION_SUM,
        pb.OPTIMIZER_SGD,
    )
    assert build(gate="xor", schedule="FULL-BATCH").schedule == pb.SCHEDULE_FULL_BATCH
    assert build(gate="xor", init="INIT_TORCH_DEFAULT").init == pb.INIT_TORCH_DEFAULT


def test_unknown_option_names_the_allowed_values():
    with pytest.raises(ValueError, match="activation: 'swish' is not one of sigmoid, tanh, relu"):
        build(gate="xor", activation="swish")
    assert choices("schedule") == ("full_batch", "online", "mini_batch")


def test_unset_options_stay_unset_for_server_defaults():
    request = build(gate="and")
    assert not request.HasField("network")
    assert not request.HasField("steps") and not request.HasField("learning_rate")
    assert request.method == pb.METHOD_UNSPECIFIED


def test_hidden_empty_means_no_hidden_layer_and_is_sent():
    request = build(gate="and", hidden_sizes=[])
    assert request.HasField("network") and list(request.network.hidden_sizes) == []
    assert request.network.no_hidden_layers
    assert list(build(gate="xor", hidden_sizes=(10, 10, 10)).network.hidden_sizes) == [10, 10, 10]


def test_truth_table_derives_num_inputs():
    request = build(truth_table=[0, 1, 1, 0, 1, 0, 0, 1])
    assert request.truth_table.num_inputs == 3
    assert list(request.truth_table.outputs) == [0, 1, 1, 0, 1, 0, 0, 1]
    with pytest.raises(ValueError, match="length 3 is not 2\\^n"):
        build(truth_table=[0, 1, 1])
    with pytest.raises(ValueError, match="truth_table\\[1\\] = 2 is not 0 or 1"):
        build(truth_table=[0, 2])


def test_examples_pack_row_major():
    request = build(examples=(np.array([[0, 1, 2], [3, 4, 5]]), [0, 1]))
    assert request.examples.num_inputs == 3
    assert list(request.examples.inputs) == [0, 1, 2, 3, 4, 5]
    assert list(request.examples.targets) == [0, 1]
    with pytest.raises(ValueError, match="2 rows but targets"):
        build(examples=([[0, 1], [1, 0]], [1]))


def test_exactly_one_task():
    with pytest.raises(ValueError, match="exactly one of gate, truth_table, examples"):
        build(gate="xor", truth_table=[0, 1])
    with pytest.raises(ValueError, match="exactly one"):
        build(steps=10)


def test_numbers_out_of_range_fail_before_sending():
    with pytest.raises(ValueError, match="steps: -1 is negative"):
        build(gate="xor", steps=-1)
    with pytest.raises(ValueError, match="steps: 8589934592 is too large"):
        build(gate="xor", steps=2**33)
    with pytest.raises(ValueError, match="learning_rate: 'fast' is not a number"):
        build(gate="xor", learning_rate="fast")


def test_initial_weights_become_tensors():
    request = build(
        gate="xor", hidden_sizes=[2], initial_weights={"layers.0.weight": [[1, 2], [3, 4]]}
    )
    (tensor,) = request.initial_weights
    assert (tensor.name, list(tensor.shape), list(tensor.values)) == (
        "layers.0.weight",
        [2, 2],
        [1, 2, 3, 4],
    )


def test_client_error_reads_like_the_status():
    err = ClientError("INVALID_ARGUMENT", "steps: 0 is below the minimum 1")
    assert str(err) == "INVALID_ARGUMENT: steps: 0 is below the minimum 1"
    assert (err.code, err.message) == ("INVALID_ARGUMENT", "steps: 0 is below the minimum 1")


def test_importing_the_client_loads_no_torch_and_no_server():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import gatenet.client"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
    assert "gatenet.client" in modules
    assert not {m for m in modules if m == "torch" or m.startswith("gatenet.server")}


# -- over the wire, against the fake ------------------------------------------------------


def test_train_sends_the_request_and_returns_typed_info(fake):
    servicer, target = fake
    with Client(target) as client:
        info = client.train(
            gate="xor", hidden_sizes=[4], activation="sigmoid", steps=500, seed=7, name="x1"
        )
    assert isinstance(info, ModelInfo)
    assert (info.model_id, info.name, info.fit, info.steps) == ("m1", "x1", True, 500)
    assert info.loss_curve == [(0, pytest.approx(0.7)), (100, pytest.approx(0.01))]
    assert info.spec["network"] == {"hidden_sizes": [4], "activation": "ACTIVATION_SIGMOID"}
    json.dumps(info.to_dict())  # JSON-ready as is
    sent = servicer.calls[0][1]
    assert sent.gate.name == "xor" and sent.seed == 7


def test_idempotent_calls_retry_on_unavailable(fake):
    servicer, target = fake
    with Client(target) as client:
        client.train(gate="xor")
        servicer.fail["Predict"] = [grpc.StatusCode.UNAVAILABLE] * 2
        result = client.predict("m1", XOR_ROWS)
    assert servicer.count("Predict") == 3
    assert result.labels.tolist() == [0, 0, 0, 1]


def test_train_and_delete_are_not_retried(fake):
    servicer, target = fake
    servicer.fail["Train"] = [grpc.StatusCode.UNAVAILABLE]
    with Client(target) as client, pytest.raises(ClientError) as err:
        client.train(gate="xor")
    assert err.value.code == "UNAVAILABLE" and servicer.count("Train") == 1
    with Client(target) as client:
        client.train(gate="xor")
        servicer.fail["DeleteModel"] = [grpc.StatusCode.UNAVAILABLE]
        with pytest.raises(ClientError, match="UNAVAILABLE"):
            client.delete_model("m1")
    assert servicer.count("DeleteModel") == 1


def test_a_cancelled_the_client_did_not_ask_for_reads_unavailable_and_is_retried(fake):
    # What gRPC core answers a call that reached a server as it stopped (grpc/grpc#41785).
    servicer, target = fake
    with Client(target) as client:
        client.train(gate="xor")
        servicer.fail["Predict"] = [grpc.StatusCode.CANCELLED]
        assert client.predict("m1", XOR_ROWS).labels.tolist() == [0, 0, 0, 1]
        assert servicer.count("Predict") == 2
        servicer.fail["Train"] = [grpc.StatusCode.CANCELLED]
        with pytest.raises(ClientError) as err:
            client.train(gate="xor")
    assert err.value.code == "UNAVAILABLE" and "dropped the call" in err.value.message
    assert servicer.count("Train") == 2  # not retried: Train is not idempotent

    async def predict_async() -> list[int]:
        servicer.fail["Predict"] = [grpc.StatusCode.CANCELLED]
        async with AsyncClient(target) as aclient:
            return (await aclient.predict("m1", XOR_ROWS)).labels.tolist()

    assert asyncio.run(predict_async()) == [0, 0, 0, 1]
    assert servicer.count("Predict") == 4


def test_retries_give_up_after_the_limit(fake):
    servicer, target = fake
    servicer.fail["GetModel"] = [grpc.StatusCode.UNAVAILABLE] * 5
    with Client(target, retries=2) as client, pytest.raises(ClientError) as err:
        client.get_model("m1")
    assert err.value.code == "UNAVAILABLE" and servicer.count("GetModel") == 3


def test_other_errors_are_not_retried_and_keep_the_message(fake):
    servicer, target = fake
    with Client(target) as client, pytest.raises(ClientError) as err:
        client.get_model("nope")
    assert str(err.value) == "NOT_FOUND: model 'nope' not found"
    assert servicer.count("GetModel") == 1


def test_timeout_is_a_deadline(fake):
    _, target = fake
    with Client(target, timeout=0.2) as client, pytest.raises(ClientError) as err:
        client.train(gate="xor", name="slow")
    assert err.value.code == "DEADLINE_EXCEEDED"


def test_token_goes_out_as_bearer_metadata(fake):
    servicer, target = fake
    with Client(target, token="s3cret") as client:
        client.list_models()
    assert servicer.calls[0][2]["authorization"] == "Bearer s3cret"


def test_list_models_follows_every_page(fake):
    servicer, target = fake
    with Client(target) as client:
        for i in range(5):
            client.train(gate="and", name=f"and-{i}")
        client.train(gate="or", name="or-0")
        models = client.list_models(name_prefix="and-", page_size=2)
    assert [m.name for m in models] == [f"and-{i}" for i in range(5)]
    assert servicer.count("ListModels") == 3


def test_predict_and_weights_are_numpy(fake):
    _, target = fake
    with Client(target) as client:
        info = client.train(gate="xor")
        result = client.predict(info, np.array(XOR_ROWS))
        weights = client.get_weights(info, safetensors=True)
    assert result.probabilities.dtype == np.float32
    assert result.probabilities.tolist() == [0.0, 0.5, 0.5, 1.0]
    assert weights.tensors["layers.0.weight"].shape == (2, 4)
    assert weights.tensors["layers.1.bias"].tolist() == [-1.0]
    assert weights.safetensors == b"blob"
    data = weights.to_dict()
    assert data["tensors"]["layers.0.weight"]["shape"] == [2, 4]
    assert len(data["tensors"]["layers.0.weight"]["values"]) == 8


def test_rows_must_be_two_dimensional(fake):
    _, target = fake
    with Client(target) as client, pytest.raises(ValueError, match="expected 2-D"):
        client.predict("m1", [0, 1])


def test_weights_rebuild_as_torch(fake):
    torch = pytest.importorskip("torch")
    _, target = fake
    with Client(target) as client:
        weights = client.get_weights(
            client.train(gate="xor", hidden_sizes=[4], activation="sigmoid")
        )
    module = weights.to_torch()
    x = np.array(XOR_ROWS, dtype=np.float32)
    t = weights.tensors
    hidden = 1 / (1 + np.exp(-(x @ t["layers.0.weight"] + t["layers.0.bias"])))
    expected = 1 / (1 + np.exp(-(hidden @ t["layers.1.weight"] + t["layers.1.bias"])))
    assert isinstance(module[1], torch.nn.Sigmoid) and len(module) == 4
    got = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_train_stream_yields_progress_then_the_model(fake):
    _, target = fake
    with Client(target) as client:
        events = list(client.train_stream(gate="xor"))
    assert [type(e) for e in events] == [Progress, Progress, Progress, ModelInfo]
    assert [e.step for e in events[:3]] == [10, 20, 30]


def test_leaving_a_stream_early_cancels_training(fake):
    servicer, target = fake
    with Client(target) as client:
        stream = client.train_stream(gate="xor", name="forever")
        assert next(stream).step == 10
        stream.close()
        assert servicer.cancelled.wait(5)


def test_health_statuses(fake):
    _, target = fake
    with Client(target) as client:
        assert client.health() == "SERVING"
        assert client.health("gatenet.v1.GateService") == "NOT_SERVING"
        assert client.health("no.such.Service") == "SERVICE_UNKNOWN"


def test_unreachable_server_is_unavailable_naming_the_target():
    with Client("127.0.0.1:1", retries=1) as client, pytest.raises(ClientError) as err:
        client.health()
    assert err.value.code == "UNAVAILABLE" and err.value.target == "127.0.0.1:1"


@pytest.fixture
def tls_fake(tmp_path) -> Iterator[tuple[str, str]]:
    """The fake GateService behind TLS with a certificate of a fresh CA: (target, CA path)."""
    pki = make_pki(tmp_path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_GateServiceServicer_to_server(FakeGateService(), server)
    creds = grpc.ssl_server_credentials(
        [(Path(pki.server_key).read_bytes(), Path(pki.server_cert).read_bytes())]
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    yield f"127.0.0.1:{port}", pki.ca
    server.stop(None)


def test_tls_with_a_ca_file(tls_fake):
    target, ca = tls_fake
    with Client(target, root_certificates=ca) as client:
        assert client.train(gate="xor").model_id == "m1"
    with Client(target, retries=0) as plaintext, pytest.raises(ClientError) as err:
        plaintext.list_models()
    assert err.value.code == "UNAVAILABLE"


def test_an_injected_channel_is_left_open(fake):
    _, target = fake
    channel = grpc.insecure_channel(target)
    with Client(channel=channel) as client:
        client.train(gate="xor")
    with Client(channel=channel) as client:  # still usable: the first client did not close it
        assert client.get_model("m1").model_id == "m1"
    channel.close()


def test_async_client_has_the_same_calls(fake):
    servicer, target = fake

    async def run() -> tuple:
        async with AsyncClient(target, token="t") as client:
            info = await client.train(gate="xor", name="a")
            servicer.fail["Predict"] = [grpc.StatusCode.UNAVAILABLE]
            result = await client.predict(info, XOR_ROWS)
            events = [e async for e in client.train_stream(gate="and")]
            models = await client.list_models(page_size=1)
            weights = await client.get_weights("m1")
            status = await client.health()
            with pytest.raises(ClientError, match="NOT_FOUND"):
                await client.get_model("nope")
            return info, result, events, models, weights, status

    info, result, events, models, weights, status = asyncio.run(run())
    assert info.name == "a" and result.labels.tolist() == [0, 0, 0, 1]
    assert servicer.count("Predict") == 2
    assert isinstance(events[-1], ModelInfo) and len(models) == 2
    assert weights.tensors["layers.0.bias"].shape == (4,) and status == "SERVING"
    assert servicer.calls[0][2]["authorization"] == "Bearer t"


def test_async_client_made_before_the_event_loop(fake):
    _, target = fake
    client = AsyncClient(target)  # the usual shape: build it, then asyncio.run(main(client))

    async def run() -> str:
        async with client:
            return (await client.train(gate="or")).model_id

    assert asyncio.run(run()) == "m1"


# -- the real server -----------------------------------------------------------------------


def test_real_xor_fits_and_predicts(client):
    info = client.train(gate="xor", hidden_sizes=[4], activation="tanh", seed=0, restarts=8)
    assert info.fit and info.accuracy == 1.0 and info.num_inputs == 2
    result = client.predict(info.model_id, XOR_ROWS)
    assert result.model_id == info.model_id
    assert result.labels.tolist() == [0, 1, 1, 0]


def test_real_weights_match_predict_through_torch(client):
    torch = pytest.importorskip("torch")
    info = client.train(gate="xnor", hidden_sizes=[3], activation="sigmoid", seed=1, restarts=8)
    weights = client.get_weights(info)
    assert weights.tensors["layers.0.weight"].shape == (2, 3)
    assert weights.tensors["layers.1.weight"].shape == (3, 1)
    expected = client.predict(info, XOR_ROWS).probabilities
    got = weights.to_torch()(torch.tensor(XOR_ROWS, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(got.ravel(), expected, atol=1e-5)


def test_real_models_by_name_and_delete(client):
    info = client.train(gate="and", name=f"client-and-{time.monotonic_ns()}", steps=200)
    assert client.get_model(info.name).model_id == info.model_id
    assert info.model_id in [m.model_id for m in client.list_models(name_prefix=info.name)]
    assert client.delete_model(info.name) == info.model_id
    with pytest.raises(ClientError) as err:
        client.predict(info.model_id, [[0, 1]])
    assert err.value.code == "NOT_FOUND"


def test_real_server_rejects_bad_values_with_the_field(client):
    with pytest.raises(ClientError) as err:
        client.train(gate="xor", steps=0)
    assert err.value.code == "INVALID_ARGUMENT" and "steps" in err.value.message


def test_real_stream_ends_with_the_model(client):
    events = list(client.train_stream(gate="or", steps=200, check_every=50, early_stop=False))
    assert isinstance(events[-1], ModelInfo) and events[-1].steps == 200
    assert any(isinstance(e, Progress) for e in events[:-1])
    assert client.health() == "SERVING"
