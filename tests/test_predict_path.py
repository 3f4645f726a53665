"""What one Predict costs the server, through the real server: the work its event loop does
per call (bench/predict.py measures the time against FLOOR)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import numpy as np
import pytest

from gatenet.client import Client
from gatenet.server.rpc import predict_codec
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc


@pytest.fixture(scope="module")
def xor_id(server) -> str:
    with Client(server.target, timeout=60) as c:
        return c.train(gate="xor", seed=1).model_id


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the calls of predict_codec.`name` (the server looks it up at each call)."""
    calls = [0]
    real: Callable[..., object] = getattr(predict_codec, name)

    def counted(*args: object) -> object:
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(predict_codec, name, counted)
    return calls


@pytest.mark.parametrize("count", [1, 1024])
def test_rows_of_0s_and_1s_skip_the_finiteness_check(server, xor_id, monkeypatch, count) -> None:
    """The truth table answers only rows of 0.0 and 1.0, which are finite: no second pass."""
    checks = _counting(monkeypatch, "check_finite")
    rows = np.random.default_rng(count).integers(0, 2, (count, 2))
    with Client(server.target, timeout=30) as c:
        answer = c.predict(xor_id, rows)
    assert list(answer.labels) == [int(a != b) for a, b in rows]
    assert checks[0] == 0


@pytest.mark.parametrize("count", [1, 1024])
def test_real_valued_rows_are_still_checked(server, xor_id, monkeypatch, count) -> None:
    checks = _counting(monkeypatch, "check_finite")
    rows = np.random.default_rng(count).normal(size=(count, 2))
    with Client(server.target, timeout=30) as c:
        assert len(c.predict(xor_id, rows).labels) == count
    assert checks[0] == 1
    rows[count - 1, 1] = np.nan
    with grpc.insecure_channel(server.target) as channel:
        request = pb.PredictRequest(model=xor_id, inputs=rows.ravel().tolist())
        with pytest.raises(grpc.RpcError) as caught:
            gatenet_pb2_grpc.GateServiceStub(channel).Predict(request, timeout=30)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"row {count - 1}, column 1 is nan" in str(caught.value.details())
