"""The shipped haproxy.cfg, run by the real HAProxy in front of three real gatenet replicas.

Which replica answered is read from each replica's own /metrics
(grpc_server_handled_total{grpc_method="Predict", grpc_code="NOT_FOUND"}): the models
asked for don't exist, so every call ends NOT_FOUND on exactly the replica it reached.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent import futures

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


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Replica], Balancer]]:
    find_tool("haproxy")  # before starting anything: skip, or fail under GATENET_REQUIRE_TOOLS
    tmp = tmp_path_factory.mktemp("haproxy")
    with replicas(tmp) as servers:
        with balancer(tmp, {name: r.target for name, r in servers.items()}) as lb:
            wait_for("all replicas UP in haproxy", lambda: set(lb.status().values()) == {"UP"}, 30)
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
    wait_for(f"haproxy to mark {victim} DOWN", lambda: lb.status()[victim] == "DOWN", 15, lb.log)

    # No UNAVAILABLE from here on: every call reaches a live replica and ends NOT_FOUND.
    for model, owner in owners.items():
        now = owner_of(survivors, client, model, 2)
        if owner != victim:
            assert now == owner, f"{model} moved from {owner} to {now} though {owner} is up"
    assert lb.status() == {name: ("DOWN" if name == victim else "UP") for name in REPLICAS}


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
