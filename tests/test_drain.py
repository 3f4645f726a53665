"""Stopping a real `gatenet serve`: SIGTERM or Ctrl-C drains without losing a call."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serve_process import ServeProcess

from gatenet.client import Client, ClientError, ModelInfo, Progress

pytestmark = pytest.mark.slow
ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


def _drain_once() -> tuple[int, int, list[str], bool]:
    """(predicts answered, trains tried, idempotent failures, watch ended before exit)."""
    server = ServeProcess("--store", "memory", "--drain-delay", "1", "--grace-seconds", "5")
    server.start()
    assert server.proc is not None
    with Client(server.target, timeout=30) as c:
        model = c.train(gate="xor").model_id
    moved_away = threading.Event()  # what a load balancer does when health says NOT_SERVING
    failures: list[str] = []
    answered = [0]
    trains = [0]
    watch_ended = threading.Event()

    def predict_load() -> None:
        with Client(server.target, timeout=10) as c:
            while not moved_away.is_set():
                try:
                    assert c.predict(model, ROWS).labels.tolist() == [0, 1, 1, 0]
                    answered[0] += 1
                except ClientError as err:
                    failures.append(f"{err.code}: {err.message}")

    def train_load() -> None:
        with Client(server.target, timeout=10) as c:
            while not moved_away.is_set():
                trains[0] += 1
                try:
                    c.train(gate="or", steps=50)
                except ClientError:
                    pass  # Train is not idempotent: a draining server may refuse it
                time.sleep(0.1)

    def balancer() -> None:
        channel = grpc.insecure_channel(server.target)
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        try:
            for reply in stream:
                if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    moved_away.set()
        except grpc.RpcError:
            pass
        moved_away.set()
        if server.proc is not None and server.proc.poll() is None:
            watch_ended.set()  # the stream ended while the server was still draining
        channel.close()

    threads = [threading.Thread(target=predict_load) for _ in range(8)]
    threads += [threading.Thread(target=train_load), threading.Thread(target=balancer)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    server.proc.send_signal(signal.SIGTERM)
    _, err = server.proc.communicate(timeout=30)
    for t in threads:
        t.join(timeout=30)
    assert server.proc.returncode == 0, err
    return answered[0], trains[0], failures, watch_ended.is_set()


def test_sigterm_under_load_fails_no_idempotent_call_five_times():
    for _ in range(5):
        answered, trains, failures, watch_ended = _drain_once()
        assert failures == [], failures
        assert answered > 50 and trains > 3
        assert watch_ended, "Health.Watch must end when the drain starts, not hold the exit"


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
