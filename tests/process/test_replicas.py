"""Replicas over one real redis-server: shared models, deletes seen everywhere, Redis outages."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gatenet.client import Client, ClientError
from gatenet_testing.serve_process import ServeProcess, start_all, stop_all

# Bounds on wall time, or load on purpose: on one xdist worker, one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timed]
ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.fixture
def replicas(redis_server) -> Iterator[list[ServeProcess]]:
    started = start_all([ServeProcess("--store", redis_server.url) for _ in range(3)])
    yield started
    stop_all(started)


def _store_health(target: str) -> int:
    channel = grpc.insecure_channel(target)
    try:
        request = health_pb2.HealthCheckRequest(service="gatenet.store")
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status
    finally:
        channel.close()


def test_every_replica_serves_every_model_and_sees_deletes_within_a_second(replicas):
    a, b, c = (Client(r.target, timeout=30) for r in replicas)
    with a, b, c:
        model = a.train(gate="xor", name="shared").model_id
        expected = a.predict(model, ROWS).probabilities.tolist()
        for other in (b, c):  # a cache miss reads the model from Redis
            assert other.predict("shared", ROWS).probabilities.tolist() == expected
        b.delete_model(model)
        deadline = time.monotonic() + 1.0
        for other in (a, c):
            while True:
                try:
                    other.predict(model, ROWS)
                except ClientError as err:
                    assert err.code == "NOT_FOUND"
                    break
                assert time.monotonic() < deadline, "a replica still serves a deleted model"
                time.sleep(0.02)


def test_names_are_unique_across_replicas(replicas):
    with Client(replicas[0].target) as a, Client(replicas[1].target) as b:
        a.train(gate="and", name="only-once")
        with pytest.raises(ClientError) as err:
            b.train(gate="or", name="only-once")
        assert err.value.code == "ALREADY_EXISTS"


def test_a_redis_outage_fails_writes_cleanly_keeps_cached_predicts_and_heals(
    redis_server, replicas
):
    target = replicas[0].target
    with Client(target, timeout=30, retries=0) as c:
        model = c.train(gate="or").model_id
        assert c.predict(model, ROWS).labels.tolist() == [0, 1, 1, 1]
        redis_server.stop()
        with pytest.raises(ClientError) as err:
            c.train(gate="and")
        assert err.value.code == "UNAVAILABLE"
        assert "redis" in err.value.message and "unavailable" in err.value.message
        assert c.predict(model, ROWS).labels.tolist() == [0, 1, 1, 1], "cached models serve on"
        deadline = time.monotonic() + 10
        while _store_health(target) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health never said the store is down"
            time.sleep(0.1)
        assert c.health() == "SERVING", "the replica itself still serves"
        redis_server.start()  # same port, same AOF
        deadline = time.monotonic() + 15
        while True:
            try:
                assert c.train(gate="and").fit
                break
            except ClientError as err:
                assert err.code == "UNAVAILABLE" and time.monotonic() < deadline
                time.sleep(0.2)
        assert c.predict(model, ROWS).labels.tolist() == [0, 1, 1, 1]


def test_acknowledged_models_survive_a_redis_kill_9(redis_server, replicas):
    with Client(replicas[0].target, timeout=30) as c:
        trained = {c.train(gate="xor", seed=i).model_id for i in range(10)}
    redis_server.kill()
    redis_server.start()  # replays its append-only file
    fresh = ServeProcess("--store", redis_server.url).start()  # a cold cache: reads Redis
    try:
        with Client(fresh.target, timeout=30) as c:
            assert trained <= {m.model_id for m in c.list_models()}
            for model in trained:
                assert c.predict(model, ROWS).labels.tolist() == [0, 1, 1, 0]
    finally:
        fresh.stop()


def test_a_delete_after_a_redis_kill_reaches_every_replica_within_a_second(redis_server):
    one, two = (ServeProcess("--store", redis_server.url).start() for _ in range(2))
    try:
        with Client(one.target, timeout=30) as a, Client(two.target, retries=0) as b:
            for trial in range(10):
                model = a.train(gate="xor", seed=trial).model_id
                b.predict(model, ROWS)  # replica 2 holds it in its cache
                redis_server.kill()  # SIGKILL; AOF replayed on start
                redis_server.start()
                back = time.monotonic()
                b.predict(model, ROWS)  # cached again even if replica 2 noticed the blip
                _delete(a, model)
                while True:
                    try:
                        b.predict(model, ROWS)
                    except ClientError as err:
                        if err.code == "NOT_FOUND":
                            break
                        assert err.code == "UNAVAILABLE", err
                    waited = time.monotonic() - back
                    assert waited < 1.0, f"trial {trial}: replica 2 serves M {waited:.2f} s on"
                    time.sleep(0.02)
    finally:
        one.stop()
        two.stop()


def _delete(c: Client, model: str) -> None:
    """Delete through replica 1, retrying while its Redis connection comes back."""
    deadline = time.monotonic() + 5
    while True:
        try:
            c.delete_model(model)
            return
        except ClientError as err:
            assert err.code == "UNAVAILABLE" and time.monotonic() < deadline, err
            time.sleep(0.02)
