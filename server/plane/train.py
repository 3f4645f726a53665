"""Train, the use case: admit a request, run its recipe on a worker, register the model.

Admission checks the name, resolves the recipe and makes sure the model has room and
its name is free, before any training. The run counts and logs how it ended; a model
that trained is described (while the worker trains), stored (durable before the answer)
and cached. The worker readies the model to store and serve (models/trained.py), so the
loop, woken by its answer, splices the stored text, commits and answers: little code runs
between the worker's answer and ours. Large specs are read and described on the codec
thread (offload.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from gatenet.server import offload
from gatenet.server.errors import Cancelled, DeadlineExceeded, InvalidArgument
from gatenet.server.metrics import Metrics
from gatenet.server.models import document, spec_codec
from gatenet.server.models.registry import Registry
from gatenet.server.models.trained import Trained
from gatenet.server.plane.catalog import check_name
from gatenet.server.training.pool import Draining, Refused, TrainingPool
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, Progress, Recipe
from gatenet.v1 import gatenet_pb2 as pb

if TYPE_CHECKING:  # imported by the composition root only when tracing is on
    from gatenet.server.tracing import Tracing

log = logging.getLogger("gatenet.server")

OnProgress = Callable[[Progress], None]


class Training:
    """Trains models on the worker pool and registers them."""

    def __init__(
        self,
        registry: Registry,
        pool: TrainingPool[Trained],
        limits: Limits,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self._registry = registry
        self._pool = pool
        self._limits = limits
        self._metrics = metrics
        self._tracing = tracing

    async def admit(self, request: pb.TrainRequest) -> Recipe:
        """The resolved recipe, once the server has room for its model and its name is free."""
        check_name(request.name)
        large = spec_codec.request_heft(request) > offload.LARGE_VALUES
        recipe = await offload.run_if(large, _recipe, request, self._limits)
        self._registry.ensure_capacity()
        await self._registry.ensure_name_free(request.name)
        return recipe

    async def train(
        self,
        recipe: Recipe,
        name: str,
        owner: str,
        time_remaining: Callable[[], float | None],
        on_progress: OnProgress | None = None,
    ) -> pb.ModelInfo:
        """Train an admitted recipe on a worker and register its model. `owner` is whom the
        training counts against; `time_remaining` the call's deadline (None = none)."""
        trained, described = await self._run(recipe, name, owner, time_remaining, on_progress)
        return await self._register(described, trained)

    async def _run(
        self,
        recipe: Recipe,
        name: str,
        owner: str,
        time_remaining: Callable[[], float | None],
        on_progress: OnProgress | None,
    ) -> tuple[Trained, spec_codec.Description]:
        """Run the recipe on a worker, describing its model meanwhile; count and log how it
        ended. No task and no loop turn between the worker's answer and the caller's."""
        task, started, outcome = recipe.dataset.kind, time.perf_counter(), "failed"
        span = None if self._tracing is None else _SpanTimes()
        self._metrics.trainings_in_progress.inc()
        try:
            dispatched = None if span is None else span.dispatched
            run = self._pool.submit(recipe, on_progress, owner, dispatched)  # on a worker now
            try:
                described = await _describe(recipe, name)  # while it trains
            except BaseException:
                self._pool.abandon(run)
                raise
            result = await self._pool.wait(run)
            if span is not None:
                span.ran(result)
            if not result.finite:
                raise InvalidArgument(
                    "learning_rate",
                    f"{recipe.learning_rate:g} made training diverge (parameters overflowed); "
                    "lower it, or use reduction mean",
                )
            outcome = "fit" if result.summary.fit else "not_fit"
            return result, described
        except (Refused, Draining):  # turned away untrained: not a failure
            outcome = "refused"
            raise
        except (asyncio.CancelledError, Cancelled):
            outcome = "cancelled"
            remaining = time_remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    "deadline exceeded while training; nothing was stored"
                ) from None
            raise
        finally:
            seconds = time.perf_counter() - started
            self._metrics.training_finished(task, outcome, seconds)
            if span is not None and self._tracing is not None:
                span.attributes.update({"gatenet.task": task, "gatenet.outcome": outcome})
                self._tracing.training(span.start, span.at, time.time_ns(), span.attributes)
            log.info(
                "training",
                extra={
                    "fields": {
                        "task": task,
                        "label": recipe.dataset.label,
                        "outcome": outcome,
                        "seconds": round(seconds, 4),
                    }
                },
            )

    async def _register(self, described: spec_codec.Description, trained: Trained) -> pb.ModelInfo:
        """Store the trained model (durable before we answer), cache it, describe it."""
        summary = trained.summary
        described = spec_codec.ran(described, summary)
        info = spec_codec.trained_info(
            described, uuid.uuid4().hex, time.time(), summary, trained.loss_curve
        )
        record = document.trained_record(
            info, described.recipe.activation, described.spec_json, described.spec_text, trained
        )
        assert trained.compiled is not None  # a finite model's, built in the worker
        await self._registry.add(record, trained.compiled)
        self._metrics.training_steps.inc(summary.steps)
        self._metrics.training_restarts.inc(summary.restarts)
        self._metrics.models.set(self._registry.stored)
        return info


def _recipe(request: pb.TrainRequest, limits: Limits) -> Recipe:
    """The request's recipe, checked against the limits, every default resolved."""
    return resolve(spec_codec.spec_from_request(request, limits), limits)


async def _describe(recipe: Recipe, name: str) -> spec_codec.Description:
    large = spec_codec.heft(recipe) > offload.LARGE_VALUES
    return await offload.run_if(large, spec_codec.describe, recipe, name)


class _SpanTimes:
    """When a traced training started, reached a worker, and how it ran (tracing.training)."""

    def __init__(self) -> None:
        self.start = time.time_ns()
        self.at: int | None = None
        self.attributes: dict[str, str | int | float | bool] = {}

    def dispatched(self) -> None:
        self.at = time.time_ns()

    def ran(self, result: Trained) -> None:
        summary = result.summary
        self.attributes.update(
            {
                "gatenet.steps": summary.steps,
                "gatenet.restarts": summary.restarts,
                "gatenet.fit": summary.fit,
                "gatenet.stopped_by": summary.stopped_by,
                "gatenet.train_seconds": summary.train_seconds,
            }
        )
