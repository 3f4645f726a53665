"""Fair training through the real server: one client's share and turn, refusals counted apart."""

from __future__ import annotations

import time

import grpc
import pytest

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

# Each starts servers of its own, whose workers warm torch up: make test's second step.
pytestmark = pytest.mark.slow

LONG = pb.TrainRequest(gate=pb.GateTask(name="xor"), steps=1_000_000, early_stop=False)
SMALL = pb.TrainRequest(gate=pb.GateTask(name="and"))


def _stub(srv) -> pb_grpc.GateServiceStub:
    return pb_grpc.GateServiceStub(grpc.insecure_channel(srv.target))


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
        for family in srv.metrics_registry.collect()
        for s in family.samples
        if s.name == "gatenet_trainings_total" and s.labels.get("outcome") == outcome
    )


def test_a_token_is_one_client_however_its_header_is_spelled(make_server, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice train\n")
    srv = make_server(tokens_file=str(tokens), max_trainings_per_client=1, training_workers=1)
    stub = _stub(srv)
    running = _started(stub, _bearer("Bearer alice"))
    try:
        for header in ("bearer alice", "BEARER alice", "Bearer  alice", " Bearer alice "):
            with pytest.raises(grpc.RpcError) as err:
                stub.Train(SMALL, metadata=_bearer(header), timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, header
            assert "--max-trainings-per-client" in err.value.details()
    finally:
        running.cancel()


def test_without_auth_a_header_does_not_make_another_client(make_server):
    srv = make_server(max_trainings_per_client=1, training_workers=1)
    stub = _stub(srv)
    running = _started(stub, _bearer("Bearer a"))
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.Train(SMALL, metadata=_bearer("Bearer b"), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-trainings-per-client" in err.value.details()
    finally:
        running.cancel()
