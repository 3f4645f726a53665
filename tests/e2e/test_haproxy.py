"""The shipped haproxy.cfg, run by the real HAProxy in front of three real gatenet replicas.

Which replica answered is read from each replica's own /metrics
(grpc_server_handled_total{grpc_method="Predict", grpc_code="NOT_FOUND"}, and
gatenet_http_requests_total{route, code="404"} through the HTTP front door): the models
asked for don't exist, so every call ends NOT_FOUND on exactly the replica it reached.
"""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gatenet.client import Client, ClientError
from gatenet.v1 import gatenet_pb2, gatenet_pb2_grpc
from gatenet_testing.e2e_support import find_tool, wait_for
from gatenet_testing.lb_support import (
    REPLICAS,
    Balancer,
    ModelIdHeader,
    Replica,
    balancer,
    replicas,
)

pytestmark = pytest.mark.e2e

IDS = [f"no-such-model-{i:02d}" for i in range(24)]
CALLS = 3  # per id: all of them must land on the same replica
INFER = "/v2/models/{name}/infer"  # the route label of V2 REST infer in gatenet's metrics
ROW = {"inputs": [{"name": "inputs", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Replica], Balancer]]:
    find_tool("haproxy")  # before starting anything: skip, or fail under GATENET_REQUIRE_TOOLS
    tmp = tmp_path_factory.mktemp("haproxy")
    with replicas(tmp) as servers:
        grpc_addresses = {name: r.target for name, r in servers.items()}
        http_addresses = {name: f"127.0.0.1:{r.http_port}" for name, r in servers.items()}
        with balancer(tmp, grpc_addresses, http_addresses) as lb:
            for backend in ("gatenet", "gatenet-http"):
                wait_for(
                    f"all replicas UP in haproxy's {backend}",
                    lambda b=backend: set(lb.status(b).values()) == {"UP"},
                    30,
                    lb.log,
                )
            yield servers, lb


@pytest.fixture(scope="module")
def client(cluster) -> Iterator[Client]:
    """The real client through HAProxy, sending x-model-id explicitly, never retrying."""
    _, lb = cluster
    channel = grpc.intercept_channel(grpc.insecure_channel(lb.target), ModelIdHeader())
    try:
        yield Client(lb.target, channel=channel, timeout=10, retries=0)
    finally:
        channel.close()


def not_found(servers: dict[str, Replica]) -> dict[str, float]:
    return {name: r.handled("Predict", "NOT_FOUND") for name, r in servers.items()}


def predict_missing(client: Client, model: str) -> None:
    with pytest.raises(ClientError) as err:
        client.predict(model, [[0, 1]])
    assert err.value.code == "NOT_FOUND", err.value


def owner_of(servers: dict[str, Replica], client: Client, model: str, calls: int) -> str:
    """Send calls Predicts for model; the one replica that answered all of them."""
    before = not_found(servers)
    for _ in range(calls):
        predict_missing(client, model)
    delta = {name: count - before[name] for name, count in not_found(servers).items()}
    reached = {name: n for name, n in delta.items() if n}
    assert list(reached.values()) == [calls], f"{model}: calls per replica {delta}"
    return next(iter(reached))


def post(url: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    """POST a JSON body; the status and the JSON answer, errors included."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def http_owner(
    servers: dict[str, Replica], route: str, send: Callable[[], tuple[int, dict[str, Any]]]
) -> str:
    """Send CALLS requests that end 404 on route; the one replica that answered all."""
    before = {name: r.http_handled(route, 404) for name, r in servers.items()}
    for _ in range(CALLS):
        status, answer = send()
        assert status == 404, answer
    delta = {name: r.http_handled(route, 404) - before[name] for name, r in servers.items()}
    reached = {name: n for name, n in delta.items() if n}
    assert list(reached.values()) == [CALLS], f"{route}: calls per replica {delta}"
    return next(iter(reached))


@pytest.fixture(scope="module")
def owners(cluster, client) -> dict[str, str]:
    """Which replica each id hashes to, with all three up."""
    servers, _ = cluster
    return {model: owner_of(servers, client, model, CALLS) for model in IDS}


def test_each_model_id_sticks_to_one_replica(owners):
    # owner_of already asserted each id's calls all reached one replica; across ids,
    # the hash spreads them over the replicas.
    spread = {name: sorted(m for m, o in owners.items() if o == name) for name in REPLICAS}
    assert sum(1 for ids in spread.values() if ids) >= 2, spread


def test_calls_without_the_header_go_round_robin(cluster):
    servers, lb = cluster
    before = not_found(servers)
    with grpc.insecure_channel(lb.target) as channel:
        stub = gatenet_pb2_grpc.GateServiceStub(channel)
        for _ in range(3 * len(servers)):
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(gatenet_pb2.PredictRequest(model="no-such-model"), timeout=10)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    delta = {name: count - before[name] for name, count in not_found(servers).items()}
    assert sum(1 for n in delta.values() if n) >= 2, f"calls per replica without header: {delta}"


def test_v2_infer_through_the_http_front_door_hashes_the_path_model_like_grpc(cluster, owners):
    """/v2/models/{name}/infer: one replica per model, the one gRPC's x-model-id hash picks."""
    servers, lb = cluster
    for model in IDS[:8]:
        url = f"{lb.http_url}/v2/models/{model}/infer"
        owner = http_owner(servers, INFER, lambda url=url: post(url, ROW))
        assert owner == owners[model], f"{model}: HTTP reached {owner}, gRPC {owners[model]}"
    _, answer = post(f"{lb.http_url}/v2/models/{IDS[0]}/infer", ROW)
    assert answer == {"error": f"model: no model has the id or name '{IDS[0]}'"}


def test_v1_calls_through_the_http_front_door(cluster, owners):
    """/v1/Predict follows x-model-id as gRPC does; without it, round-robin."""
    servers, lb = cluster
    url = f"{lb.http_url}/v1/Predict"
    for model in IDS[:4]:
        body = {"model": model, "inputs": [0, 1]}
        sticky = http_owner(
            servers, "/v1/Predict", lambda b=body: post(url, b, **{"x-model-id": b["model"]})
        )
        assert sticky == owners[model], f"{model}: /v1 reached {sticky}, gRPC {owners[model]}"

    before = {name: r.http_handled("/v1/Predict", 404) for name, r in servers.items()}
    for _ in range(3 * len(servers)):
        status, answer = post(url, {"model": IDS[0], "inputs": [0, 1]})
        assert (status, answer["code"]) == (404, 5), answer  # grpc-gateway's NOT_FOUND
    delta = {name: r.http_handled("/v1/Predict", 404) - before[name] for name, r in servers.items()}
    assert sum(1 for n in delta.values() if n) >= 2, (
        f"/v1 calls per replica without header: {delta}"
    )


def test_train_and_infer_through_the_http_front_door(cluster):
    """A model trained through /v1 with x-model-id answers V2 infer and /v1/Predict there.

    Each replica here has its own memory store: the infer only finds the model because
    the header's hash and the path's hash pick the same replica.
    """
    _, lb = cluster
    name = "xor-via-http"
    train = {"gate": {"name": "XOR"}, "seed": 0, "name": name}
    status, trained = post(f"{lb.http_url}/v1/Train", train, **{"x-model-id": name})
    assert status == 200 and trained["summary"]["fit"] is True, trained
    rows = [[0, 0], [0, 1], [1, 0], [1, 1]]
    tensor = {"name": "inputs", "datatype": "FP32", "shape": [4, 2], "data": rows}
    status, inferred = post(f"{lb.http_url}/v2/models/{name}/infer", {"inputs": [tensor]})
    assert status == 200, inferred
    (label,) = [o for o in inferred["outputs"] if o["name"] == "label"]
    assert label["data"] == [False, True, True, False]
    body = {"model": name, "inputs": [x for row in rows for x in row]}
    status, predicted = post(f"{lb.http_url}/v1/Predict", body, **{"x-model-id": name})
    assert (status, predicted["labels"]) == (200, [0, 1, 1, 0]), predicted


def test_a_killed_replica_moves_only_its_own_ids(cluster, client, owners):
    servers, lb = cluster
    counts = {name: list(owners.values()).count(name) for name in REPLICAS}
    victim = max(counts, key=counts.get)
    servers[victim].proc.send_signal(signal.SIGKILL)
    servers[victim].proc.wait(timeout=10)
    survivors = {name: r for name, r in servers.items() if name != victim}
    # Before the check notices: the refused connection is retried on another replica
    # (retries 2, option redispatch 1), so even now the caller sees no UNAVAILABLE.
    for model in [m for m, o in owners.items() if o == victim][:2]:
        assert owner_of(survivors, client, model, 1) != victim
    victim_ids = [m for m, o in owners.items() if o == victim]
    url = f"{lb.http_url}/v2/models/{victim_ids[0]}/infer"
    assert http_owner(survivors, INFER, lambda: post(url, ROW)) != victim
    for backend in ("gatenet", "gatenet-http"):
        wait_for(
            f"haproxy to mark {victim} DOWN in {backend}",
            lambda b=backend: lb.status(b)[victim] == "DOWN",
            15,
            lb.log,
        )

    # No UNAVAILABLE from here on: every call reaches a live replica and ends NOT_FOUND.
    for model, owner in owners.items():
        now = owner_of(survivors, client, model, 2)
        if owner != victim:
            assert now == owner, f"{model} moved from {owner} to {now} though {owner} is up"
    for model, owner in list(owners.items())[:8]:  # HTTP too: no 503, ids of the live stay
        url = f"{lb.http_url}/v2/models/{model}/infer"
        now = http_owner(survivors, INFER, lambda url=url: post(url, ROW))
        assert now == owner or owner == victim, f"{model} moved from {owner} to {now} over HTTP"
    want = {name: ("DOWN" if name == victim else "UP") for name in REPLICAS}
    assert lb.status() == lb.status("gatenet-http") == want


def test_the_check_follows_grpc_health_serving_state(tmp_path):
    """NOT_SERVING (starting, draining) takes a replica out; SERVING brings it back.

    The replica here is a plain grpcio server with the standard health servicer, the
    one gatenet registers, so its status can be flipped on demand.
    """
    find_tool("haproxy")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        # gatenet2 and gatenet3 point at the same server: every line gets checked.
        address = f"127.0.0.1:{port}"
        with balancer(tmp_path, dict.fromkeys(REPLICAS, address)) as lb:
            for status, want in [("SERVING", "UP"), ("NOT_SERVING", "DOWN"), ("SERVING", "UP")]:
                servicer.set("", getattr(health_pb2.HealthCheckResponse, status))
                wait_for(
                    f"{status} -> {want}",
                    lambda want=want: set(lb.status().values()) == {want},
                    15,
                    lb.log,
                )
                if want == "DOWN":
                    check = lb.servers()["gatenet1"]
                    assert check["check_status"] == "L7RSP", check  # decided, not timed out
    finally:
        server.stop(None)


class _Ready(BaseHTTPRequestHandler):
    """GET /v2/health/ready answering 200 or 400 as the server's `ready` says."""

    def do_GET(self) -> None:
        ready = self.server.ready  # type: ignore[attr-defined]
        self.send_response(200 if ready and self.path == "/v2/health/ready" else 400)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_http_check_follows_v2_ready(tmp_path):
    """400 from /v2/health/ready (starting, draining) takes a replica out; 200 brings it back.

    The replica here is a plain HTTP server that answers the route as gatenet does
    (200 ready, 400 not), so its state can be flipped on demand.
    """
    find_tool("haproxy")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    server.ready = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"127.0.0.1:{server.server_address[1]}"
        with balancer(tmp_path, dict.fromkeys(REPLICAS, address)) as lb:
            for ready, want in [(True, "UP"), (False, "DOWN"), (True, "UP")]:
                server.ready = ready  # type: ignore[attr-defined]
                wait_for(
                    f"ready {ready} -> {want}",
                    lambda want=want: set(lb.status("gatenet-http").values()) == {want},
                    15,
                    lb.log,
                )
                if want == "DOWN":
                    check = lb.servers("gatenet-http")["gatenet1"]
                    assert check["check_status"] == "L7STS", check  # the status, not a timeout
                    assert check["check_code"] == "400", check
    finally:
        server.shutdown()
        server.server_close()
