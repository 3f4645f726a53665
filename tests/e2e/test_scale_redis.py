"""Three real replicas over a real redis-server behind the real HAProxy: a replica killed with
SIGKILL under load loses no model and fails no call once the client has retried."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from gatenet.client import Client, ClientError
from gatenet_testing.e2e_support import find_tool, wait_for
from gatenet_testing.lb_support import balancer, replicas
from gatenet_testing.serve_process import RedisServer, find_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_a_killed_replica_loses_no_model_and_no_call(tmp_path):
    find_tool("haproxy")
    data = tmp_path / "redis"
    data.mkdir()
    redis = RedisServer(find_redis_server(), data)
    redis.start()
    try:
        with replicas(tmp_path, store=redis.url) as servers:
            targets = {name: r.target for name, r in servers.items()}
            with balancer(tmp_path, targets) as lb:
                wait_for("replicas UP", lambda: set(lb.status().values()) == {"UP"}, 30)
                _kill_one_under_load(servers, lb.target)
    finally:
        redis.kill()


def _kill_one_under_load(servers, target: str) -> None:
    with Client(target, timeout=60) as c:  # Train has no x-model-id: round-robin
        models = {c.train(gate="xor", seed=i).model_id: [0, 1, 1, 0] for i in range(12)}
        models |= {c.train(gate="or", seed=i).model_id: [0, 1, 1, 1] for i in range(12)}
    failed: list[str] = []
    seen: list[str] = []  # codes the client saw before it retried
    answered = [0]
    stop = threading.Event()

    def predict_all() -> None:
        with Client(target, timeout=10, retries=5) as c:
            while not stop.is_set():
                for model, labels in models.items():
                    try:
                        if c.predict(model, ROWS).labels.tolist() != labels:
                            failed.append(f"{model}: wrong labels")
                        answered[0] += 1
                    except ClientError as err:
                        failed.append(f"{model}: {err.code} {err.message}")

    def watch_raw() -> None:
        with Client(target, timeout=10, retries=0) as c:
            while not stop.is_set():
                for model in models:
                    try:
                        c.predict(model, ROWS)
                    except ClientError as err:
                        seen.append(err.code)

    threads = [threading.Thread(target=predict_all) for _ in range(2)]
    threads.append(threading.Thread(target=watch_raw))
    for t in threads:
        t.start()
    time.sleep(1.0)
    victim = servers["gatenet2"]
    victim.proc.send_signal(signal.SIGKILL)
    before = answered[0]
    time.sleep(4.0)  # HAProxy marks it down; its ids move to the others
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert failed == [], failed[:5]
    assert answered[0] > before, "calls went on after the kill"
    assert set(seen) <= {"UNAVAILABLE"}, seen
    survivors = [r for name, r in servers.items() if name != "gatenet2"]
    with Client(target, timeout=10) as c:  # every acknowledged model, from the survivors
        for model, labels in models.items():
            assert c.predict(model, ROWS).labels.tolist() == labels
    assert sum(r.handled("Predict", "OK") for r in survivors) > 0
