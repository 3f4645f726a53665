"""Stopping a real `gatenet serve`: SIGTERM or Ctrl-C drains without losing or cancelling a call."""

from __future__ import annotations

import collections
import os
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gatenet.client import Client, ClientError, ModelInfo, Progress
from gatenet_testing.serve_process import ServeProcess

# Bounds on wall time, or load on purpose: on one xdist worker, one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timed]
ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]
CONCURRENCY = 8


def _drain_once(spare: ServeProcess) -> tuple[collections.Counter[str], list[str], int]:
    """SIGTERM one server under Predict and Train load that does not stop for the drain.

    The clients dial both the draining server and `spare` (gRPC's pick_first: the first
    address while it takes connections), like clients of a replica set whose balancer has
    not noticed the drain. Returns (codes the clients saw, idempotent failures, trains tried).
    """
    server = ServeProcess("--store", "memory", "--drain-delay", "1", "--grace-seconds", "5")
    server.start()
    assert server.proc is not None
    with Client(server.target, timeout=30) as c:
        c.train(gate="xor", name="xor")
    target = f"ipv4:{server.target},{spare.target}"
    done = threading.Event()
    codes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    trains = [0]

    def predict_load() -> None:
        with Client(target, timeout=10) as c:
            while not done.is_set():
                try:
                    assert c.predict("xor", ROWS).labels.tolist() == [0, 1, 1, 0]
                    codes["OK"] += 1
                except ClientError as err:
                    codes[err.code] += 1
                    failures.append(f"{err.code}: {err.message}")

    def train_load() -> None:
        with Client(target, timeout=10) as c:
            while not done.is_set():
                trains[0] += 1
                try:
                    c.train(gate="or", steps=50)
                    codes["OK"] += 1
                except ClientError as err:  # not idempotent: a draining server may refuse it
                    codes[err.code] += 1
                time.sleep(0.1)  # a client that backs off, as the Python client does on retries

    threads = [threading.Thread(target=predict_load) for _ in range(CONCURRENCY)]
    threads.append(threading.Thread(target=train_load))
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGTERM)
        _, err = server.proc.communicate(timeout=30)
        after = codes["OK"]
        while codes["OK"] < after + CONCURRENCY and not failures:  # the load goes on, on spare
            time.sleep(0.01)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
        server.stop()
    assert server.proc.returncode == 0, err
    return codes, failures, trains[0]


def test_sigterm_under_load_cancels_nothing_and_fails_no_idempotent_call_five_times():
    # Its log goes to a pipe nobody reads while the test runs: keep it short.
    spare = ServeProcess("--store", "memory", "--log-level", "WARNING").start()
    try:
        with Client(spare.target, timeout=30) as c:
            c.train(gate="xor", name="xor")
        for _ in range(5):
            codes, failures, trains = _drain_once(spare)
            assert codes["CANCELLED"] == 0, codes
            assert failures == [], (codes, failures[:5])
            assert codes["OK"] > 50 and trains > 3, codes
    finally:
        spare.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_to_the_process_group_drains_like_sigterm(sig):
    """A terminal's Ctrl-C (or a kill of the group) reaches every process of the group; only
    the server may act on it: it drains and then stops its workers itself."""
    server = ServeProcess("--store", "memory", "--drain-delay", "0.2", "--grace-seconds", "30")
    server.start()
    assert server.proc is not None
    try:
        with Client(server.target, timeout=60) as c:
            stream = c.train_stream(
                gate="xor", method="autograd", steps=3000, early_stop=False, restarts=64
            )
            assert isinstance(next(stream), Progress)  # training on a worker now
            os.killpg(server.proc.pid, sig)
            events = list(stream)
        _, err = server.proc.communicate(timeout=60)
    finally:
        server.stop()
    assert isinstance(events[-1], ModelInfo) and events[-1].steps == 3000
    assert server.proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "died" not in err, err


def test_an_open_health_watch_ends_when_the_drain_starts():
    """The watcher gets NOT_SERVING, then the end of its stream, while the server still
    answers for the drain delay; its stream does not hold the exit for the grace."""
    server = ServeProcess("--store", "memory", "--drain-delay", "3", "--grace-seconds", "30")
    server.start()
    assert server.proc is not None
    channel = grpc.insecure_channel(server.target)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        stream = health.Watch(health_pb2.HealthCheckRequest())
        assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
        began = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        statuses = []
        with pytest.raises(grpc.RpcError) as ended:
            for reply in stream:
                statuses.append(reply.status)
        # Still in the drain delay: Check answers, NOT_SERVING; a new Watch gets that, then its end.
        check = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING
        again = health.Watch(health_pb2.HealthCheckRequest(), timeout=5)
        assert next(again).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as ended_again:
            next(again)
        assert ended_again.value.code() == grpc.StatusCode.UNAVAILABLE
        _, err = server.proc.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        channel.close()
        server.stop()
    assert statuses == [health_pb2.HealthCheckResponse.NOT_SERVING]
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in (ended.value.details() or "")
    assert server.proc.returncode == 0, err
    assert took < 3 + 5, f"exit took {took:.1f} s: something held it for the 30 s grace"


def test_a_call_still_running_when_the_grace_ends_is_answered_unavailable():
    """The server will not finish it: UNAVAILABLE (retry elsewhere), not CANCELLED. (gRPC core
    answers the calls it cuts at the end of the grace so; this guards it.)"""
    server = ServeProcess("--store", "memory", "--drain-delay", "0", "--grace-seconds", "1")
    server.start()
    assert server.proc is not None
    try:
        with Client(server.target, timeout=60) as c:
            stream = c.train_stream(gate="xor", steps=10**6, early_stop=False, restarts=64)
            assert isinstance(next(stream), Progress)  # training on a worker now
            server.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ClientError) as err:
                list(stream)
        _, log = server.proc.communicate(timeout=60)
    finally:
        server.stop()
    assert err.value.code == "UNAVAILABLE", err.value
    assert server.proc.returncode == 0, log
