"""Fair training through the real server: one client's share and turn, refusals counted apart."""

from __future__ import annotations

import json
import logging
import threading
import time

import grpc
import pytest

from gatenet.server import logs
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

# Each starts servers of its own, whose workers warm torch up: make test's second step.
# Bounds on wall time, or load on purpose: on one xdist worker, one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timed]

LONG = pb.TrainRequest(gate=pb.GateTask(name="xor"), steps=1_000_000, early_stop=False)
SMALL = pb.TrainRequest(gate=pb.GateTask(name="and"))


def _stub(srv, open_channel) -> pb_grpc.GateServiceStub:
    return pb_grpc.GateServiceStub(open_channel(srv.target))


def _bearer(header: str) -> list[tuple[str, str]]:
    return [("authorization", header)]


def _started(stub: pb_grpc.GateServiceStub, metadata: list[tuple[str, str]] | None = None):
    """A long TrainStream, once its worker has begun (its step-0 progress arrived)."""
    stream = stub.TrainStream(LONG, metadata=metadata)
    assert next(stream).HasField("progress")
    return stream


def _until(condition, seconds: float = 30.0) -> None:
    """Wait for a condition of the server's own state (no event says it)."""
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.005)


def _trainings(srv, outcome: str) -> float:
    return sum(
        s.value
        for family in srv.prometheus_registry.collect()
        for s in family.samples
        if s.name == "gatenet_trainings_total" and s.labels.get("outcome") == outcome
    )


def test_a_token_is_one_client_however_its_header_is_spelled(make_server, tmp_path, open_channel):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice train\n")
    srv = make_server(tokens_file=str(tokens), max_trainings_per_client=1, training_workers=1)
    stub = _stub(srv, open_channel)
    running = _started(stub, _bearer("Bearer alice"))
    try:
        for header in ("bearer alice", "BEARER alice", "Bearer  alice", " Bearer alice "):
            with pytest.raises(grpc.RpcError) as err:
                stub.Train(SMALL, metadata=_bearer(header), timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, header
            assert "--max-trainings-per-client" in err.value.details()
    finally:
        running.cancel()


def test_without_auth_a_header_does_not_make_another_client(make_server, open_channel):
    srv = make_server(max_trainings_per_client=1, training_workers=1)
    stub = _stub(srv, open_channel)
    running = _started(stub, _bearer("Bearer a"))
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.Train(SMALL, metadata=_bearer("Bearer b"), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-trainings-per-client" in err.value.details()
    finally:
        running.cancel()


def test_another_clients_small_train_waits_for_one_training_not_a_backlog(
    make_server, tmp_path, open_channel
):
    """Alice queues 8 trainings of ~1 s (the cap); Bob's small one runs before her second ends."""
    tokens = tmp_path / "tokens"
    tokens.write_text("alice train\nbob train\n")
    srv = make_server(tokens_file=str(tokens), training_workers=1, max_train_seconds=1.0)
    stub = _stub(srv, open_channel)
    ended: list[tuple[str, float]] = []
    lock = threading.Lock()

    def note(who: str):
        def done(_: object) -> None:
            with lock:
                ended.append((who, time.monotonic()))

        return done

    alice = [stub.Train.future(LONG, metadata=_bearer("Bearer alice")) for _ in range(8)]
    for call in alice:
        call.add_done_callback(note("alice"))
    in_flight = srv.metrics.trainings_in_progress
    _until(lambda: in_flight._value.get() == 8)
    bob = stub.Train.future(SMALL, metadata=_bearer("Bearer bob"))
    bob.add_done_callback(note("bob"))
    assert bob.result(timeout=60).summary.fit
    for call in alice:
        assert call.result(timeout=60).summary.stopped_by == "time"
    order = [who for who, _ in sorted(ended, key=lambda e: e[1])]
    assert order.index("bob") <= 1, f"bob's training ended after alice's {order.index('bob')}"


def test_refused_trainings_are_counted_and_logged_as_refused(
    make_server, tmp_path, capfd, open_channel
):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice train\nbob train\ncarol train\n")
    srv = make_server(
        tokens_file=str(tokens),
        training_workers=1,
        max_queued_trainings=1,
        max_trainings_per_client=1,
    )
    stub = _stub(srv, open_channel)
    logs.configure("INFO", "json")
    try:
        running = _started(stub, _bearer("Bearer alice"))
        try:
            for who, flag in (("alice", "--max-trainings-per-client"), ("carol", "--max-queued")):
                if who == "carol":  # bob's training takes the one place in the queue
                    queued = stub.Train.future(SMALL, metadata=_bearer("Bearer bob"))
                    _until(lambda: srv.metrics.trainings_in_progress._value.get() == 2)
                with pytest.raises(grpc.RpcError) as err:
                    stub.Train(SMALL, metadata=_bearer(f"Bearer {who}"), timeout=10)
                assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert flag in err.value.details()
        finally:
            running.cancel()
        assert queued.result(timeout=60).summary.fit
        _until(lambda: srv.metrics.trainings_in_progress._value.get() == 0)
    finally:
        logging.getLogger("gatenet").setLevel("WARNING")
        logging.getLogger("gatenet").handlers[:] = []  # capfd's stderr closes with this test
    assert _trainings(srv, "refused") == 2
    assert _trainings(srv, "failed") == 0
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    outcomes = [e["outcome"] for e in lines if e["msg"] == "training"]
    assert sorted(outcomes) == ["cancelled", "fit", "refused", "refused"]


def test_a_training_the_drain_turns_away_is_counted_as_refused(make_server, open_channel):
    srv = make_server(training_workers=1)
    stub = _stub(srv, open_channel)
    running = _started(stub)
    queued = stub.Train.future(SMALL)
    _until(lambda: srv.metrics.trainings_in_progress._value.get() == 2)
    stopper = threading.Thread(target=srv.stop, kwargs={"grace": 0.0})
    stopper.start()
    with pytest.raises(grpc.RpcError) as err:
        queued.result(timeout=30)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    running.cancel()
    stopper.join(30)
    assert _trainings(srv, "refused") == 1
    assert _trainings(srv, "failed") == 0
