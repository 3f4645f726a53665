"""GateService over HTTP/JSON through the gateway, in-process on a real server's own servicer.

Every served method answers what the gRPC port answers for the same call; bad bodies get a
400 whose message names the field; domain errors get grpc-gateway's HTTP status and body.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as load_safetensors

from gatenet.client import Client
from gatenet.server.app import GatenetServer
from gatenet.server.http.codes import HTTP_STATUS
from gatenet.server.http.gateway import NDJSON, Gateway, HttpCall, peer_address
from gatenet.v1 import gatenet_pb2 as pb
from gatenet_testing.servers import start_server

ROWS = [0, 0, 0, 1, 1, 0, 1, 1]
CALL = HttpCall(peer=peer_address("127.0.0.1", 40000))


@pytest.fixture(scope="module")
def server() -> Iterator[GatenetServer]:
    """A server of this module's own: ListModels totals count only what these tests stored."""
    srv = start_server(max_trainings_per_client=1)
    yield srv
    srv.stop(0)


@pytest.fixture(scope="module")
def gateway(server: GatenetServer) -> Gateway:
    return Gateway(server.gate_service)


def call(
    server: GatenetServer, gateway: Gateway, method: str, body: Any, at: HttpCall = CALL
) -> tuple[int, dict[str, Any]]:
    """POST /v1/<method> with `body` (JSON-encoded unless bytes): the status and parsed answer."""
    found = gateway.method(method)
    assert found is not None and not found.streaming
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, answer = server._loop.run(found.unary(raw, at))
    return status, json.loads(answer)


def stream(
    server: GatenetServer, gateway: Gateway, method: str, body: Any, at: HttpCall = CALL
) -> list[dict[str, Any]]:
    """A streaming method's JSON lines, each parsed."""
    found = gateway.method(method)
    assert found is not None and found.streaming

    async def lines() -> list[bytes]:
        return [line async for line in found.stream(json.dumps(body).encode(), at)]

    out = server._loop.run(lines())
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in out)
    return [json.loads(line) for line in out]


def expect_error(answer: tuple[int, dict[str, Any]], status: int, code: int, *fragments: str):
    got_status, body = answer
    assert (got_status, body["code"]) == (status, code), body
    assert body["details"] == []
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


@pytest.fixture(scope="module")
def xor(server: GatenetServer, gateway: Gateway) -> dict[str, Any]:
    """A fitted XOR trained through the gateway (lowerCamel and original names mixed)."""
    spec = {"gate": {"name": "XOR"}, "network": {"hidden_sizes": [4]}, "seed": "3"}
    status, info = call(server, gateway, "Train", {**spec, "name": "gw-xor", "earlyStop": True})
    assert status == 200, info
    return info


def test_the_methods_served_are_the_descriptors_less_the_client_streaming_one(gateway):
    service = pb.DESCRIPTOR.services_by_name["GateService"]
    assert gateway.names() == [m.name for m in service.methods if not m.client_streaming]
    assert gateway.method("ImportModelChunked") is None and gateway.method("train") is None
    train, stream_ = gateway.method("Train"), gateway.method("TrainStream")
    assert train and train.full_name == "/gatenet.v1.GateService/Train" and not train.streaming
    assert stream_ and stream_.streaming and NDJSON == "application/x-ndjson"


def test_every_grpc_code_has_grpc_gateways_http_status():
    assert set(HTTP_STATUS) == set(grpc.StatusCode)
    assert HTTP_STATUS[grpc.StatusCode.RESOURCE_EXHAUSTED] == 429
    assert HTTP_STATUS[grpc.StatusCode.CANCELLED] == 499


def test_train_answers_the_model_info_in_proto3_json(xor):
    assert xor["name"] == "gw-xor" and len(xor["modelId"]) == 32
    assert xor["summary"]["fit"] is True and xor["summary"]["accuracy"] == 1.0
    assert xor["spec"]["network"]["hiddenSizes"] == [4]
    assert xor["spec"]["seed"] == "3"  # a uint64: a string in proto3 JSON
    assert xor["spec"]["method"].startswith("METHOD_")  # enums by name


def test_predict_by_name_answers_what_grpc_answers(server, gateway, xor):
    status, answer = call(server, gateway, "Predict", {"model": "gw-xor", "inputs": ROWS})
    assert status == 200, answer
    assert answer["modelId"] == xor["modelId"] and answer["labels"] == [0, 1, 1, 0]
    with Client(server.target, timeout=60) as client:
        direct = client.predict(xor["modelId"], np.array(ROWS).reshape(4, 2))
    assert np.array_equal(np.float32(answer["probabilities"]), direct.probabilities)


def test_a_large_predict_is_read_and_written_off_the_loop_and_still_right(server, gateway, xor):
    rows = np.tile(np.array(ROWS, dtype=np.float32), 4000)  # 16,000 rows, a ~100 kB body
    body = {"model": xor["modelId"], "inputs": rows.tolist(), "numFeatures": 2}
    status, answer = call(server, gateway, "Predict", body)
    assert status == 200 and answer["labels"] == [0, 1, 1, 0] * 4000
    bad = {**body, "inputs": [*rows.tolist()[:30001], "x", 0.0]}
    expect_error(
        call(server, gateway, "Predict", bad), 400, 3, "inputs[30001]: want a number", '"x"'
    )


def test_get_model_and_get_weights(server, gateway, xor):
    status, info = call(server, gateway, "GetModel", {"model": xor["modelId"]})
    assert status == 200 and info["name"] == "gw-xor" and info["lossCurve"]
    status, weights = call(server, gateway, "GetWeights", {"model": "gw-xor"})
    assert status == 200 and "safetensors" not in weights
    shapes = {t["name"]: t["shape"] for t in weights["tensors"]}
    assert shapes == {
        "layers.0.weight": [2, 4],
        "layers.0.bias": [4],
        "layers.1.weight": [4, 1],
        "layers.1.bias": [1],
    }
    status, full = call(
        server, gateway, "GetWeights", {"model": "gw-xor", "include_safetensors": True}
    )
    tensors = load_safetensors(base64.b64decode(full["safetensors"]))
    first = next(t for t in weights["tensors"] if t["name"] == "layers.0.weight")
    assert np.array_equal(tensors["layers.0.weight"].ravel(), np.float32(first["values"]))


def test_import_model_from_get_weights_safetensors_predicts_the_same(server, gateway, xor):
    _, full = call(server, gateway, "GetWeights", {"model": "gw-xor", "includeSafetensors": True})
    body = {"safetensors": full["safetensors"], "name": "gw-imported"}
    status, info = call(server, gateway, "ImportModel", body)
    assert status == 200, info
    assert info["importedFrom"] == xor["modelId"] and info["modelId"] != xor["modelId"]
    _, a = call(server, gateway, "Predict", {"model": "gw-xor", "inputs": ROWS})
    _, b = call(server, gateway, "Predict", {"model": "gw-imported", "inputs": ROWS})
    assert a["probabilities"] == b["probabilities"]
    expect_error(call(server, gateway, "ImportModel", body), 409, 6, "gw-imported")


def test_list_then_delete(server, gateway):
    names = [f"gw-list-{i}" for i in range(3)]
    for name in names:
        status, _ = call(server, gateway, "Train", {"gate": {"name": "AND"}, "name": name})
        assert status == 200
    status, page = call(server, gateway, "ListModels", {"namePrefix": "gw-list-", "pageSize": 2})
    assert status == 200 and [m["name"] for m in page["models"]] == names[:2]
    token = page["nextPageToken"]
    _, rest = call(server, gateway, "ListModels", {"name_prefix": "gw-list-", "pageToken": token})
    assert [m["name"] for m in rest["models"]] == names[2:] and "nextPageToken" not in rest
    status, deleted = call(server, gateway, "DeleteModel", {"model": names[0]})
    assert status == 200 and len(deleted["modelId"]) == 32
    expect_error(call(server, gateway, "GetModel", {"model": names[0]}), 404, 5, names[0])
    _, after = call(server, gateway, "ListModels", b"")  # an empty body: every field unset
    assert names[0] not in [m["name"] for m in after["models"]]
    assert after["total"] == page["total"] - 1


def test_train_stream_is_progress_lines_then_the_model(server, gateway):
    body = {"gate": {"name": "XOR"}, "seed": 5, "checkEvery": 20, "earlyStop": False}
    events = stream(server, gateway, "TrainStream", {**body, "steps": 3000})
    assert [set(e) for e in events] == [{"progress"}] * (len(events) - 1) + [{"model"}]
    steps = [e["progress"].get("step", 0) for e in events[:-1]]
    assert steps and steps == sorted(steps)  # the worker sends progress every 50 ms at most
    model = events[-1]["model"]
    status, info = call(server, gateway, "GetModel", {"model": model["modelId"]})
    assert status == 200 and info["summary"]["steps"] == 3000


def test_train_stream_errors_end_the_stream_as_an_error_line(server, gateway):
    events = stream(server, gateway, "TrainStream", {"gate": {"name": "XOR"}, "steps": "many"})
    assert len(events) == 1 and events[0]["error"]["code"] == 3
    assert events[0]["error"]["message"].startswith("steps: want an integer")
    events = stream(server, gateway, "TrainStream", {"gate": {"name": "NOPE"}})
    assert len(events) == 1 and events[0]["error"]["code"] == 3
    assert "NOPE" in events[0]["error"]["message"]


def test_opened_streams_send_the_errors_status_when_nothing_went_out_yet(server, gateway):
    method = gateway.method("TrainStream")
    assert method is not None

    async def opened(body: dict[str, Any]) -> tuple[int, list[bytes]]:
        status, lines = await method.opened(json.dumps(body).encode(), CALL)
        return status, [line async for line in lines]

    status, lines = server._loop.run(opened({"gate": {"name": "NOPE"}}))
    assert status == 400 and len(lines) == 1 and json.loads(lines[0])["error"]["code"] == 3
    status, lines = server._loop.run(opened({"gate": {"name": "AND"}, "name": "gw-opened"}))
    assert status == 200 and json.loads(lines[-1])["model"]["name"] == "gw-opened"


BAD_BODIES = [
    ("Train", b"{bad", "body: not valid JSON"),
    ("Train", b"\xff{}", "body: not UTF-8"),
    ("Train", b"[1, 2]", "body: want a JSON object (a gatenet.v1.TrainRequest), got an array"),
    ("Train", b'{"stepz": 5}', "stepz: no such field in gatenet.v1.TrainRequest"),
    ("Train", b'{"steps": 5, "steps": 6}', "steps: given twice"),
    ("Train", b'{"learningRate": 0.1, "learning_rate": 0.2}', "learning_rate: learningRate is"),
    ("Train", b'{"gate": {"name": "OR"}, "examples": {}}', "examples: gate is given too"),
    ("Train", b'{"network": {"hiddenSizes": [4, -2]}}', "network.hiddenSizes[1]: want an int"),
    ("Train", b'{"network": {"hiddenSizes": 4}}', "network.hiddenSizes: want a JSON array"),
    ("Train", b'{"network": [4]}', "network: want a JSON object (a gatenet.v1.Network)"),
    ("Train", b'{"method": "METHOD_NEWTON"}', "method: want one of METHOD_UNSPECIFIED"),
    ("Train", b'{"learningRate": NaN}', 'body: NaN is not JSON; write the string "NaN"'),
    ("Train", b'{"earlyStop": "yes"}', "earlyStop: want true or false"),
    ("Train", b'{"initialWeights": [{"values": [1, null]}]}', "initialWeights[0].values[1]: null"),
    ("Train", b'{"gate": {"name": "XOR"}, "steps": 0}', "steps"),  # the plane's own check
    ("Predict", b'{"model": "gw-xor", "inputs": [1e39, 0]}', "inputs[0]: want a number"),
    ("Predict", b'{"model": "gw-xor", "inputs": [0, 1, 1]}', "inputs"),
    ("Predict", b'{"inputs": [0, 1]}', "model: is empty"),
    ("GetWeights", b'{"model": 7}', "model: want a string, got 7"),
    ("ListModels", b'{"pageSize": 5000}', "page_size: 5000 exceeds the limit 1000"),
    ("ImportModel", b'{"json": "{}"}', "json"),
    ("DeleteModel", b'{"model": ""}', "model: is empty"),
]


@pytest.mark.parametrize(("method", "body", "fragment"), BAD_BODIES)
def test_bad_bodies_answer_400_naming_the_field(server, gateway, xor, method, body, fragment):
    expect_error(call(server, gateway, method, body), 400, 3, fragment)


def test_error_messages_never_echo_a_long_value(server, gateway):
    status, body = call(server, gateway, "Train", {"name": ["x" * 10_000]})
    assert status == 400 and body["message"].startswith("name: want a string")
    assert len(body["message"]) < 300


def test_domain_errors_get_grpc_gateways_status(server, gateway, xor):
    expect_error(call(server, gateway, "GetModel", {"model": "no-such"}), 404, 5, "no-such")
    taken = {"gate": {"name": "XOR"}, "name": "gw-xor"}
    expect_error(call(server, gateway, "Train", taken), 409, 6, "gw-xor")


def test_a_deadline_stops_training_and_stores_nothing(server, gateway):
    _, before = call(server, gateway, "ListModels", {})
    long = {"gate": {"name": "XOR"}, "steps": 1_000_000, "earlyStop": False, "checkEvery": 1000}
    soon = HttpCall(peer=peer_address("127.0.0.1", 40001), deadline=time.monotonic() + 0.3)
    started = time.monotonic()
    expect_error(call(server, gateway, "Train", {**long, "name": "gw-late"}, soon), 504, 4, "dead")
    # Another address: the first training holds its client's one slot until its worker stops.
    # The deadline as grpc-gateway's clients send it: a grpc-timeout header.
    soon = HttpCall(peer=peer_address("127.0.0.2", 40001), headers=[("grpc-timeout", "300m")])
    events = stream(server, gateway, "TrainStream", {**long, "name": "gw-late"}, soon)
    assert events[-1]["error"]["code"] == 4 and "deadline" in events[-1]["error"]["message"]
    assert time.monotonic() - started < 30  # not the million steps
    _, after = call(server, gateway, "ListModels", {})
    # proto3 JSON leaves out a zero total: an empty store lists as {}.
    assert after.get("total", 0) == before.get("total", 0)
    expect_error(call(server, gateway, "GetModel", {"model": "gw-late"}), 404, 5)


@pytest.mark.parametrize("timeout", ["soon", "5", "123456789S", "5s", "-5S"])
def test_a_bad_grpc_timeout_header_is_a_400_naming_it(server, gateway, timeout):
    at = HttpCall(peer=CALL.peer, headers=[("grpc-timeout", timeout)])
    body = {"gate": {"name": "OR"}}
    expect_error(call(server, gateway, "Train", body, at), 400, 3, "grpc-timeout: ", "a unit")


def test_trainings_count_against_the_http_peers_address(server, gateway):
    """max_trainings_per_client=1: a second Train from the same address (another port) is
    refused with 429 while the first runs; another address may train. Closing the stream (what
    the HTTP server does when its client goes away) stops the first training."""
    long = {"gate": {"name": "XOR"}, "steps": 1_000_000, "earlyStop": False, "checkEvery": 100}
    stream_, train = gateway.method("TrainStream"), gateway.method("Train")
    assert stream_ is not None and train is not None

    async def scenario() -> tuple[tuple[int, bytes], tuple[int, bytes], float]:
        lines = stream_.stream(json.dumps(long).encode(), HttpCall(peer_address("10.1.1.1", 1)))
        assert b"progress" in await anext(lines)  # it is training
        same = await train.unary(json.dumps(long).encode(), HttpCall(peer_address("10.1.1.1", 2)))
        quick = json.dumps({"gate": {"name": "OR"}}).encode()
        other = asyncio.ensure_future(train.unary(quick, HttpCall(peer_address("10.1.1.2", 1))))
        await asyncio.sleep(0)  # admitted: it waits for the worker the stream's training holds
        closed = time.monotonic()
        await lines.aclose()
        return same, await other, time.monotonic() - closed

    same, other, waited = server._loop.run(scenario())
    assert same[0] == 429 and b"--max-trainings-per-client" in same[1]
    assert other[0] == 200, other
    assert waited < 20  # the stream's million steps were stopped, not run to the time cap
    deadline = time.monotonic() + 30
    while running(server) and time.monotonic() < deadline:
        time.sleep(0.05)  # the worker was told to stop: polled, it reports no event of its own
    assert running(server) == 0


def running(server: GatenetServer) -> float | None:
    return server.prometheus_registry.get_sample_value("gatenet_trainings_in_progress")


def _field_names() -> list[str]:
    """Every field name of gatenet.v1's messages, in both spellings."""
    names: set[str] = set()
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        for field in message.fields:
            names.update((field.name, field.json_name))
    return sorted(names)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "Infinity", "XOR", "METHOD_AUTOGRAD", "-1", "1e400", "AAE="])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_field_names()) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_FUZZED = ["Train", "Predict", "GetWeights", "ListModels", "GetModel", "DeleteModel", "ImportModel"]


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(method=st.sampled_from(_FUZZED), body=_JSON)
def test_any_json_body_gets_a_clean_answer(server, gateway, method, body):
    """Bodies built from the messages' own field names and any JSON values: never a 500, and
    an error names what was wrong in a bounded message."""
    at = HttpCall(peer=CALL.peer, headers=[("grpc-timeout", "5S")])  # no long training
    status, answer = call(server, gateway, method, body, at)
    assert status < 500, (status, answer)
    if status != 200:
        assert set(answer) == {"code", "message", "details"} and answer["code"] != 13
        assert answer["message"] and len(answer["message"]) < 1000, answer
