"""TrainFamily, the use case: admit a family request, run its plan on one worker, describe it.

Admission checks the name, the tables, the widths and the shared recipe (resolved once, at the
widest width, so every width passes the limits) before any training. A family trains on one
worker, or split over the workers idle at the time (a large one, without classes), each part
bounded by --max-family-seconds and counted against the client's trainings in flight like a
Train.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable

import numpy as np

from gatenet.server import offload
from gatenet.server.errors import Cancelled, DeadlineExceeded, InvalidArgument
from gatenet.server.metrics import Metrics
from gatenet.server.models import family_record, spec_codec
from gatenet.server.models.document import StoredRecord
from gatenet.server.models.registry import Registry
from gatenet.server.plane.catalog import check_name
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.plan import (
    NO_WIDTH,
    FamilyPlan,
    FamilyProgress,
    FamilyResult,
    merge,
    merge_progress,
)
from gatenet.server.training.pool import Draining, Refused, TrainingPool
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits
from gatenet.server.training.tasks import truth_table_task
from gatenet.v1 import gatenet_pb2 as pb

log = logging.getLogger("gatenet.server")

DEFAULT_WIDTHS = (0, 8)  # every function of 4 inputs fits within 8 hidden units
DEFAULT_RESTARTS = 4  # per function; Train's 12 would triple a family's work for little
MAX_TABLES = 1 << 16  # an explicit list holds at most as many tables as 4 inputs have
OnFamilyProgress = Callable[[FamilyProgress], None]


class Families:
    """Trains families of functions on the worker pool."""

    def __init__(
        self,
        registry: Registry,
        pool: TrainingPool,
        limits: Limits,
        metrics: Metrics,
        max_family_seconds: float,
    ) -> None:
        self._registry = registry
        self._pool = pool
        self._limits = limits
        self._metrics = metrics
        self._cap = max_family_seconds

    async def admit(self, request: pb.TrainFamilyRequest) -> FamilyPlan:
        """The plan, once its name is free and every field is within bounds."""
        check_name(request.name)
        if not request.name:
            raise InvalidArgument(
                "name", "is empty; a family needs a name (members are NAME/TABLE)"
            )
        plan = await offload.run(plan_of, request, self._limits)
        await self._registry.ensure_name_free(request.name)
        return plan

    async def read(self, ref: str) -> pb.FamilyInfo:
        """A stored family's capacity table and every member's row."""
        return await read(self._registry, ref)

    async def train(
        self,
        plan: FamilyPlan,
        name: str,
        owner: str,
        time_remaining: Callable[[], float | None],
        on_progress: OnFamilyProgress | None = None,
    ) -> pb.FamilyInfo:
        """Train an admitted family on one worker and describe how every function went."""
        started, outcome = time.perf_counter(), "failed"
        self._metrics.trainings_in_progress.inc()
        try:
            result = await self._run(plan, owner, on_progress)
            outcome = "fit" if result.fit == len(result.width) else "not_fit"
        except (Refused, Draining):
            outcome = "refused"
            raise
        except (asyncio.CancelledError, Cancelled):
            outcome = "cancelled"
            remaining = time_remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded("deadline exceeded while training the family") from None
            raise
        finally:
            seconds = time.perf_counter() - started
            self._metrics.training_finished("family", outcome, seconds)
            log.info(
                "family",
                extra={
                    "fields": {
                        "functions": len(plan.tables),
                        "classes": plan.classes,
                        "outcome": outcome,
                        "seconds": round(seconds, 4),
                    }
                },
            )
        info, record = await offload.run(_stored, plan, result, name)
        await self._registry.add_family(record)  # durable before we answer
        self._metrics.models.set(self._registry.stored)
        return info

    async def _run(
        self, plan: FamilyPlan, owner: str, on_progress: OnFamilyProgress | None
    ) -> FamilyResult:
        """The plan's result, trained on one worker or split over the idle ones (each part
        bounded by the cap, progress summed over the parts); one part failing stops them all."""
        cap = (self._cap, "--max-family-seconds")
        parts = plan.split(self._pool.spare(owner))
        if len(parts) == 1:
            result: FamilyResult = await self._pool.run_family(plan, on_progress, owner, cap)
            return result
        latest: list[FamilyProgress | None] = [None] * len(parts)

        def progress_of(i: int) -> OnFamilyProgress:
            def seen(progress: FamilyProgress) -> None:
                latest[i] = progress
                if on_progress is not None and None not in latest:
                    on_progress(merge_progress([p for p in latest if p is not None]))

            return seen

        runs = [  # no await in between: spare() still holds
            self._pool.submit(part, progress_of(i), owner, cap=cap) for i, part in enumerate(parts)
        ]
        try:
            results = await asyncio.gather(*(self._pool.wait(run) for run in runs))
        except BaseException:
            for run in runs:  # a no-op for those that ended
                self._pool.abandon(run)
            raise
        return merge(results)


async def read(registry: Registry, ref: str) -> pb.FamilyInfo:
    """A stored family's capacity table and every member's row."""
    record = await registry.family(ref)
    return await offload.run(family_record.family_info, record)


def plan_of(request: pb.TrainFamilyRequest, limits: Limits) -> FamilyPlan:
    """The request's plan: tables, widths and the shared recipe, every default resolved."""
    n = request.inputs
    if not 1 <= n <= tbl.MAX_FAMILY_INPUTS:
        raise InvalidArgument("inputs", f"{n} is outside 1..{tbl.MAX_FAMILY_INPUTS}")
    tables = tbl.parse_all(list(request.tables), n, MAX_TABLES)
    widths = _widths(request, limits)
    shared = request.recipe
    if shared.WhichOneof("task") is not None:
        raise InvalidArgument("recipe.task", "is set; a family's tables are its tasks")
    if shared.network.hidden_sizes or shared.network.no_hidden_layers:
        raise InvalidArgument("recipe.network", "sets hidden layers; use hidden or width_min/max")
    if shared.name:
        raise InvalidArgument("recipe.name", "is set; name the family with name")
    if shared.initial_weights and len(widths) > 1:
        raise InvalidArgument("recipe.initial_weights", "need one width (hidden), not a search")
    filled = pb.TrainRequest()
    filled.CopyFrom(shared)
    filled.truth_table.num_inputs = n
    filled.truth_table.outputs[:] = [0] * (1 << n)
    if widths[-1]:  # resolved at the widest width: its parameters must pass the limits
        filled.network.hidden_sizes[:] = [widths[-1]]
    else:
        filled.network.no_hidden_layers = True
    spec = spec_codec.spec_from_request(filled, limits)
    if spec.restarts is None:
        spec = dataclasses.replace(spec, restarts=DEFAULT_RESTARTS)
    if spec.method not in (None, "manual"):
        raise InvalidArgument("recipe.method", f"{spec.method!r}; a family trains with manual")
    if spec.schedule not in (None, "full_batch"):
        raise InvalidArgument("recipe.schedule", f"{spec.schedule!r}; a family trains full_batch")
    recipe = resolve(spec, limits)
    recipe = dataclasses.replace(recipe, dataset=truth_table_task(n, [0] * (1 << n), limits))
    return FamilyPlan(tables, widths, request.classes, recipe)


def _widths(request: pb.TrainFamilyRequest, limits: Limits) -> tuple[int, ...]:
    """The widths tried, ascending: the one hidden width, or width_min..width_max."""
    top = limits.max_hidden_size
    if request.HasField("hidden"):
        if request.HasField("width_min") or request.HasField("width_max"):
            raise InvalidArgument(
                "hidden", "is set with width_min/width_max; give one or the other"
            )
        if request.hidden > top:
            raise InvalidArgument("hidden", f"{request.hidden} exceeds the limit {top}")
        return (request.hidden,)
    low = request.width_min if request.HasField("width_min") else DEFAULT_WIDTHS[0]
    high = request.width_max if request.HasField("width_max") else DEFAULT_WIDTHS[1]
    if high > top:
        raise InvalidArgument("width_max", f"{high} exceeds the limit {top}")
    if low > high:
        raise InvalidArgument("width_min", f"{low} is above width_max {high}")
    return tuple(range(low, high + 1))


def _stored(
    plan: FamilyPlan, result: FamilyResult, name: str
) -> tuple[pb.FamilyInfo, StoredRecord]:
    """The answer and the one record that stores the family (its members' rows left out)."""
    info = family_info(plan, result, name)
    summary = pb.FamilyInfo()
    summary.CopyFrom(info)
    summary.ClearField("members")
    entry = pb.ModelInfo(
        model_id=info.family_id,
        name=name,
        spec=info.recipe,
        num_inputs=info.inputs,
        created_at=info.created_at,
        family=summary,
    )
    return info, family_record.record(entry, plan.recipe.activation, result)


def family_info(plan: FamilyPlan, result: FamilyResult, name: str) -> pb.FamilyInfo:
    """What TrainFamily answers: the capacity table and every function's row."""
    recipe = spec_codec.recipe_request(
        dataclasses.replace(plan.recipe, hidden_sizes=(plan.widths[0],) if plan.widths[0] else ())
    )
    recipe.ClearField("truth_table")
    info = pb.FamilyInfo(
        family_id=uuid.uuid4().hex,
        name=name,
        inputs=plan.num_inputs,
        functions=len(result.width),
        fit=result.fit,
        fit_by_width=result.fit_by_width(),
        widths=list(plan.widths),
        classes=result.classes,
        seconds=result.seconds,
        stopped_by=result.stopped_by,
        recipe=recipe,
        created_at=time.time(),
    )
    margins = np.round(result.margin.astype(np.float64), 6).tolist()
    widths = result.width.tolist()
    for table, width, margin in zip(tbl.bits_each(result.tables), widths, margins, strict=True):
        member = info.members.add(table=table, margin=margin)
        if width != NO_WIDTH:
            member.width = width
    return info
