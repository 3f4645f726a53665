"""POST /v1/<Method> on the real HTTP port: mounted for every served method, behind the same
tokens, roles and body limit as the gRPC port, its errors in grpc-gateway's shape."""

from __future__ import annotations

import json
import socket
import time

import pytest

from gatenet.server.app import GatenetServer
from gatenet.v1 import gatenet_pb2 as pb
from gatenet_testing.http_support import request

ROWS = [0, 0, 0, 1, 1, 0, 1, 1]


def post(srv: GatenetServer, method: str, body: object, token: str | None = None):
    assert srv.http is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(f"http://127.0.0.1:{srv.http.port}/v1/{method}", data, headers)


def test_every_method_but_the_client_streaming_one_is_mounted(make_server):
    srv = make_server()
    trained = post(srv, "Train", {"gate": {"name": "XOR"}, "name": "v1-xor", "seed": 1})
    assert trained.status == 200 and trained.headers["Content-Type"].startswith("application/json")
    model = trained.json()["modelId"]
    predicted = post(srv, "Predict", {"model": "v1-xor", "inputs": ROWS}).json()
    assert predicted["labels"] == [0, 1, 1, 0]
    answers = {
        "GetModel": {"model": model},
        "GetWeights": {"model": model},
        "ListModels": {},
        "GetWeightsChunked": {"model": model},
    }
    for method, body in answers.items():
        assert post(srv, method, body).status == 200, method
    weights = post(srv, "GetWeights", {"model": model, "includeSafetensors": True}).json()
    imported = post(srv, "ImportModel", {"safetensors": weights["safetensors"]})
    assert imported.status == 200 and imported.json()["importedFrom"] == model
    lines = post(srv, "TrainStream", {"gate": {"name": "AND"}, "steps": 500})
    assert lines.status == 200 and lines.headers["Content-Type"] == "application/x-ndjson"
    assert "model" in json.loads(lines.body.splitlines()[-1])
    assert post(srv, "DeleteModel", {"model": "v1-xor"}).json() == {"modelId": model}
    served = {m.name for m in pb.DESCRIPTOR.services_by_name["GateService"].methods}
    assert "ImportModelChunked" in served
    assert post(srv, "ImportModelChunked", {}).status == 404  # one body is one message


def test_errors_have_grpc_gateways_shape_and_status(make_server):
    srv = make_server(max_message_bytes=4096)
    bad = post(srv, "Train", {"gate": {"name": "XOR"}, "network": {"hiddenSizes": ["wide"]}})
    assert bad.status == 400
    assert bad.json() == {
        "code": 3,
        "message": 'network.hiddenSizes[0]: want an integer from 0 to 4294967295, got "wide"',
        "details": [],
    }
    missing = post(srv, "GetModel", {"model": "nope"})
    assert missing.status == 404 and missing.json()["code"] == 5
    refused = post(srv, "TrainStream", {"gate": {"name": "NOPE"}})  # refused before any line
    assert refused.status == 400 and json.loads(refused.body)["error"]["code"] == 3
    huge = post(srv, "Predict", {"model": "x", "inputs": [0.5] * 2000})
    assert huge.status == 413
    assert huge.json()["code"] == 8 and "--max-message-bytes 4096" in huge.json()["message"]


def test_v1_routes_need_the_role_of_their_grpc_method(make_server, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("reader read\ntrainer train\n")
    srv = make_server(tokens_file=str(tokens), auth_token="admin-token")
    xor = {"gate": {"name": "XOR"}, "name": "v1-auth"}
    missing = post(srv, "Train", xor)
    assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json()["code"] == 16 and "authorization: missing" in missing.json()["message"]
    denied = post(srv, "Train", xor, "reader")
    assert denied.status == 403 and denied.json()["code"] == 7
    assert "it needs 'train'" in denied.json()["message"]
    assert post(srv, "Train", xor, "trainer").status == 200
    assert post(srv, "Predict", {"model": "v1-auth", "inputs": ROWS}, "reader").status == 200
    assert post(srv, "DeleteModel", {"model": "v1-auth"}, "trainer").status == 403
    assert post(srv, "DeleteModel", {"model": "v1-auth"}, "admin-token").status == 200


@pytest.mark.parametrize("method", ["TrainStream", "Train"])
def test_a_client_that_hangs_up_stops_its_training(make_server, method):
    srv = make_server(max_train_seconds=120)
    assert srv.http is not None
    long = {"gate": {"name": "XOR"}, "steps": 1_000_000, "earlyStop": False, "checkEvery": 100}
    body = json.dumps(long).encode()
    head = (
        f"POST /v1/{method} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.http.port), timeout=30) as sock:
        sock.sendall(head + body)
        if method == "TrainStream":  # its progress lines say it is training
            seen = b""
            while b"progress" not in seen:
                chunk = sock.recv(4096)
                assert chunk, seen
                seen += chunk
            assert seen.startswith(b"HTTP/1.1 200")
        while not running(srv) and time.monotonic() - started < 30:
            time.sleep(0.02)
        assert running(srv) == 1
    while running(srv) and time.monotonic() - started < 60:
        time.sleep(0.05)  # the worker was told to stop: polled, it reports no event of its own
    assert running(srv) == 0  # long before its million steps or the 120 s cap
    finished = srv.prometheus_registry.get_sample_value(
        "gatenet_trainings_total", {"task": "gate", "outcome": "cancelled"}
    )
    assert finished == 1


def running(srv: GatenetServer) -> float | None:
    return srv.prometheus_registry.get_sample_value("gatenet_trainings_in_progress")
