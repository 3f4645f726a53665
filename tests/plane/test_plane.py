"""The data plane's use cases on domain objects, with no wire: what every transport calls."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from gatenet.server.config import Settings
from gatenet.server.errors import InvalidArgument, NotFound
from gatenet.server.metrics import Metrics
from gatenet.server.models.compiled import CompiledModel
from gatenet.server.models.registry import Registry
from gatenet.server.plane import DataPlane
from gatenet.server.storage import open_store
from gatenet.v1 import gatenet_pb2 as pb

WEIGHTS = {
    "layers.0.weight": np.array([[2.0, -2.0], [2.0, -2.0]], dtype=np.float32),
    "layers.0.bias": np.array([-1.0, 3.0], dtype=np.float32),
    "layers.1.weight": np.array([[2.0], [2.0]], dtype=np.float32),
    "layers.1.bias": np.array([-3.0], dtype=np.float32),
}
MODEL_ID = "ab" * 16


def plane_with_a_model(**settings: int) -> DataPlane:
    """A plane over a memory store holding one 2-2-1 model named "net"."""
    registry = Registry(open_store("memory", "."), 1 << 20, 10)
    info = pb.ModelInfo(model_id=MODEL_ID, name="net", num_inputs=2, created_at=1.0)
    asyncio.run(registry.register(info, "sigmoid", WEIGHTS, CompiledModel(WEIGHTS, "sigmoid")))
    metrics = Metrics(CollectorRegistry())
    return DataPlane(Settings(**settings), registry, None, metrics)  # type: ignore[arg-type]


def predict(plane: DataPlane, ref: str, rows: bytes, num_features: int) -> Any:
    """The plane's answer: at once for a cached model's small forward, else awaited."""
    answer = plane.predictor.predict(ref, rows, num_features)
    return answer if isinstance(answer, tuple) else asyncio.run(answer)


def test_predict_answers_rows_by_name_as_the_compiled_model_does() -> None:
    plane = plane_with_a_model()
    rows = np.array([[0, 1], [0.25, -3.5]], dtype="<f4")
    expected, expected_labels = CompiledModel(WEIGHTS, "sigmoid").answer(rows.tobytes(), 2)
    cached = plane.predictor.predict("net", rows.tobytes(), 2)
    assert isinstance(cached, tuple), "a cached model's small forward awaits nothing"
    plane.registry.clear()  # a miss reads the model through the store: a coroutine
    for model_id, p, labels in (cached, predict(plane, "net", rows.tobytes(), 2)):
        assert model_id == MODEL_ID
        np.testing.assert_array_equal(p, expected)
        np.testing.assert_array_equal(labels, expected_labels)


def test_predict_checks_rows_and_work_under_the_callers_field() -> None:
    plane = plane_with_a_model(max_predict_rows=2, max_predict_work=12)
    three = np.zeros((3, 2), dtype="<f4").tobytes()
    with pytest.raises(InvalidArgument, match="inputs: 3 rows exceeds the limit 2"):
        predict(plane, "net", three, 0)
    with pytest.raises(InvalidArgument, match="num_features: 3 does not match"):
        predict(plane, "net", three, 3)
    model = asyncio.run(plane.predictor.model("net"))
    # 2 rows x 6 multiply-adds = 12 fit the bound; a V2 caller names its own field.
    asyncio.run(plane.predictor.answer(model, np.zeros(4, "<f4").tobytes(), 2, "inputs[0].shape"))
    with pytest.raises(InvalidArgument, match=r"inputs\[0\].shape: 3 rows x 6"):
        asyncio.run(plane.predictor.answer(model, three, 3, "inputs[0].shape"))


def test_the_catalog_reads_and_deletes_through_the_registry() -> None:
    plane = plane_with_a_model()
    info = asyncio.run(plane.catalog.read("net"))
    assert (info.model_id, info.name, info.num_inputs) == (MODEL_ID, "net", 2)
    assert asyncio.run(plane.catalog.delete("net")) == MODEL_ID
    assert plane.catalog.stored == 0
    with pytest.raises(NotFound):
        asyncio.run(plane.catalog.read(MODEL_ID))
