"""Predict, the use case: look the model up, check the rows and the work, run the forward.

Every transport (GateService.Predict, the V2 ModelInfer) hands over rows as
little-endian float32 bytes and gets back the model's id, float32 probabilities and
0/1 label bytes. A cached model is two dict lookups; the forward runs on the event
loop when small (then nothing is awaited), on a thread when big (models/forward.py).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import numpy as np

from gatenet.server.metrics import Metrics
from gatenet.server.models import forward
from gatenet.server.models.registry import Registry, Served
from gatenet.server.models.rows import Rows, check_work, count_rows

Answer = tuple[str, np.ndarray, np.ndarray]  # model id, probabilities, labels


class Predictor:
    """Answers rows with a served model, within the rows and work bounds."""

    def __init__(self, registry: Registry, max_rows: int, max_work: int, metrics: Metrics) -> None:
        self._registry = registry
        self.max_rows = max_rows
        self._max_work = max_work
        self._metrics = metrics

    def predict(
        self, ref: str, inputs: Rows, num_features: int
    ) -> Answer | Coroutine[Any, Any, Answer]:
        """The model's id, probabilities and labels of `inputs` (rows of `num_features` values,
        0 = the model's own count); InvalidArgument names the field and the bound.

        A cached model with a small forward answers at once (no coroutine on Predict's hot
        path); a model to read from the store, or a forward for a thread, is a coroutine to
        await."""
        model = self._registry.cached(ref)
        if model is None:
            return self._load_and_predict(ref, inputs, num_features)
        compiled = model.compiled
        count = count_rows(inputs, num_features, compiled.num_inputs, self.max_rows)
        check_work("inputs", count, compiled.layout.work, self._max_work)
        if not forward.in_place(compiled, count):
            return self._predict_elsewhere(model, inputs, count)
        probabilities, labels = forward.answer_here(compiled, inputs, count)
        self._metrics.predicted(count)
        return model.model_id, probabilities, labels

    async def _load_and_predict(self, ref: str, inputs: Rows, num_features: int) -> Answer:
        model = await self._registry.get(ref)
        count = count_rows(inputs, num_features, model.compiled.num_inputs, self.max_rows)
        return model.model_id, *await self.answer(model, inputs, count, "inputs")

    async def _predict_elsewhere(self, model: Served, inputs: Rows, count: int) -> Answer:
        probabilities, labels = await forward.answer(model.compiled, inputs, count)
        self._metrics.predicted(count)
        return model.model_id, probabilities, labels

    def cached(self, ref: str) -> Served | None:
        """The model with this id, else this name, when it is cached (no coroutine); else None."""
        return self._registry.cached(ref)

    async def model(self, ref: str) -> Served:
        """The model with this id, else this name, ready to answer."""
        return await self._registry.get(ref)

    def answer_now(
        self, model: Served, inputs: Rows, count: int, field: str
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """answer() without a coroutine when the forward is small enough to run here (the
        REST hot path); None when it is not: await answer()."""
        compiled = model.compiled
        check_work(field, count, compiled.layout.work, self._max_work)
        if not forward.in_place(compiled, count):
            return None
        probabilities, labels = forward.answer_here(compiled, inputs, count)
        self._metrics.predicted(count)
        return probabilities, labels

    async def answer(
        self, model: Served, inputs: Rows, count: int, field: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and labels of `count` rows already shaped to the model; the work bound
        is checked under `field`, each value's finiteness as the forward reads it."""
        compiled = model.compiled
        check_work(field, count, compiled.layout.work, self._max_work)
        probabilities, labels = await forward.answer(compiled, inputs, count)
        self._metrics.predicted(count)
        return probabilities, labels
