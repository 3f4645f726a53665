"""The width search over a family, optionally on NPN representatives, and its result.

For each width in order, only the functions no smaller width fit are trained (in chunks that
bound one batch's memory). With classes, only one representative per class is trained and
every member's network is derived from its representative's, then checked on its own rows.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

import numpy as np
import torch

from gatenet.server.training.evaluate import Evaluator
from gatenet.server.training.family import npn, rolling, step
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.batch import BatchResult, train_tables
from gatenet.server.training.family.plan import (
    NO_WIDTH,
    FamilyPlan,
    FamilyProgress,
    FamilyResult,
    MemberSet,
)
from gatenet.server.training.network import Params, layer_shapes
from gatenet.server.training.spec import Recipe
from gatenet.server.training.trainer import run_settings
from gatenet.vocabulary.gates import table_inputs
from gatenet.vocabulary.layers import parse_name

# Batch elements (restarts x (parameters + rows x units)) of one chunk of functions: ~10 such
# buffers live per chunk, so 4M keeps one chunk near 160 MB whatever the family's size.
CHUNK_ELEMENTS = 4_000_000


def at_width(recipe: Recipe, width: int) -> Recipe:
    """The recipe with one hidden layer of `width` units (none for 0)."""
    return dataclasses.replace(recipe, hidden_sizes=(width,) if width else ())


def chunk_size(recipe: Recipe, num_inputs: int) -> int:
    """Functions per batch at the recipe's width."""
    shapes = layer_shapes(num_inputs, recipe.hidden_sizes)
    params = sum(fi * fo + fo for fi, fo in shapes)
    units = sum(recipe.hidden_sizes) + 1
    per_function = recipe.restarts * (params + (1 << num_inputs) * units)
    return max(1, CHUNK_ELEMENTS // per_function)


# A rolling batch's hidden activations [rows, width, columns] held near 1 MB (2^18 floats),
# where a step's ~15 passes over them stay in cache: 4 inputs at width 8 ran 18% faster in
# batches of 512 functions x 4 restarts than of 5,181.
ROLLING_ELEMENTS = 1 << 18


def rolling_size(recipe: Recipe, num_inputs: int) -> int:
    """Functions in one rolling batch at the recipe's width (at most chunk_size's)."""
    width = max([1, *recipe.hidden_sizes])
    per_function = recipe.restarts * (1 << num_inputs) * width
    return max(1, min(chunk_size(recipe, num_inputs), ROLLING_ELEMENTS // per_function))


def search(
    tables: np.ndarray,
    widths: tuple[int, ...],
    recipe: Recipe,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[FamilyProgress], None] | None = None,
    deadline: float = float("inf"),
) -> FamilyResult:
    """The smallest width of `widths` at which each table fits, and the fitted networks."""
    count = tables.shape[0]
    result = FamilyResult(
        tables=tables,
        width=np.full(count, NO_WIDTH, dtype=np.int16),
        margin=np.full(count, -0.5, dtype=np.float32),
        derived=np.zeros(count, dtype=bool),
    )
    pending = np.arange(count)
    n = int(tables.shape[1]).bit_length() - 1
    for width in widths:
        if not len(pending):
            break
        rec = at_width(recipe, width)
        size = chunk_size(rec, n)
        fitted: list[np.ndarray] = []
        weights: list[dict[str, np.ndarray]] = []
        train: Callable[..., BatchResult]
        if step.supports(rec):  # one rolling batch of `size` functions: one tail per width
            size = rolling_size(rec, n)
            parts, train = [pending], functools.partial(rolling.train_tables, capacity=size)
        else:  # the manual engine, chunk by chunk: each chunk runs to its slowest function
            parts = [pending[i : i + size] for i in range(0, len(pending), size)]
            train = train_tables
        start = 0
        for chunk in parts:
            before = result.fit

            def progress(
                settled: int,
                width: int = width,
                start: int = start,
                before: int = before,
                pending: int = len(pending),
            ) -> None:
                if on_progress is not None:
                    on_progress(FamilyProgress(width, start + settled, pending, before, count))

            got = train(
                tables[chunk], rec, should_stop=should_stop, on_check=progress, deadline=deadline
            )
            start += len(chunk)
            result.margin[chunk] = got.margin
            result.width[chunk[got.fit]] = width
            fitted.append(chunk[got.fit])
            weights.append({name: value[got.fit] for name, value in got.weights.items()})
            if got.timed_out:
                result.stopped_by = "time"
                break
        index = np.concatenate(fitted)
        if len(index):
            result.members[width] = MemberSet(
                index, {name: np.concatenate([w[name] for w in weights]) for name in weights[0]}
            )
        pending = pending[result.width[pending] == NO_WIDTH]
        if result.stopped_by == "time":
            break
    return result


def train_family(
    plan: FamilyPlan,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[FamilyProgress], None] | None = None,
    time_limit: float | None = None,
) -> FamilyResult:
    """Train a family: a width search over its tables, or over their class representatives."""
    started = time.perf_counter()
    deadline = started + time_limit if time_limit is not None else float("inf")
    with run_settings():
        if not plan.classes:
            result = search(
                plan.tables,
                plan.widths,
                plan.recipe,
                should_stop=should_stop,
                on_progress=on_progress,
                deadline=deadline,
            )
        else:
            result = _by_classes(plan, should_stop, on_progress, deadline)
    result.seconds = time.perf_counter() - started
    return result


def _by_classes(
    plan: FamilyPlan,
    should_stop: Callable[[], bool],
    on_progress: Callable[[FamilyProgress], None] | None,
    deadline: float,
) -> FamilyResult:
    """Train the representatives of the tables' classes, then derive and check every member."""
    n = plan.num_inputs
    groups = npn.classes(n)
    numbers = tbl.numbers(plan.tables)
    class_ids, member_class = np.unique(groups.class_of[numbers], return_inverse=True)
    reps = tbl.all_tables(n)[groups.representatives[class_ids]]
    trained = search(
        reps,
        plan.widths,
        plan.recipe,
        should_stop=should_stop,
        on_progress=on_progress,
        deadline=deadline,
    )
    count = plan.tables.shape[0]
    result = FamilyResult(
        tables=plan.tables,
        width=np.full(count, NO_WIDTH, dtype=np.int16),
        margin=trained.margin[member_class].copy(),  # unfit members: their representative's
        derived=np.ones(count, dtype=bool),
        stopped_by=trained.stopped_by,
        classes=len(class_ids),
    )
    transform_of = groups.transform_of[numbers]
    for width, reps_set in trained.members.items():
        rec = at_width(plan.recipe, width)
        slot = np.full(len(class_ids), -1)
        slot[reps_set.index] = np.arange(len(reps_set.index))
        members = np.flatnonzero(slot[member_class] >= 0)
        source = {name: v[slot[member_class[members]]] for name, v in reps_set.weights.items()}
        weights = npn.derive_each(source, groups.transforms, transform_of[members])
        fit, margin = check(plan.tables[members], weights, rec)
        result.width[members[fit]] = width
        result.margin[members] = margin
        result.derive_failed += int((~fit).sum())
        result.members[width] = MemberSet(
            members[fit], {name: value[fit] for name, value in weights.items()}
        )
    return result


def check(
    tables: np.ndarray, weights: dict[str, np.ndarray], recipe: Recipe
) -> tuple[np.ndarray, np.ndarray]:
    """The fit test of stacked networks [k, ...] on their own tables [k, rows]: (fit, margin)."""
    k, rows = tables.shape
    if k == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.float32)
    n = rows.bit_length() - 1
    params = Params(layer_shapes(n, recipe.hidden_sizes), k, torch.float32)
    with torch.no_grad():
        for name, value in weights.items():
            parsed = parse_name(name)
            assert parsed is not None
            layer, kind = parsed
            target = params.weights[layer] if kind == "weight" else params.biases[layer]
            target.copy_(torch.from_numpy(value).view(target.shape))
    x = torch.from_numpy(table_inputs(n))
    got = Evaluator(x, torch.from_numpy(tables).float(), recipe)(params)
    return got.fit.numpy(), got.margin.numpy().astype(np.float32)
