"""A rolling batch: a fixed number of function slots, refilled from the pending tables as
functions settle, so a family larger than one batch pays its slowest function's tail once.

Each function keeps its own clock: it starts at step 0 from the weights a Train of the recipe
would give each restart (seed + k), is checked every check_every of its own steps and at its
last step, and settles as a Train of it would (early stop on the first fitting restart, else
its budget spent). Once no table is pending, the batch shrinks to the live functions.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np
import torch

from gatenet.server.errors import Cancelled
from gatenet.server.training.family.batch import BatchResult
from gatenet.server.training.family.pace import Pace
from gatenet.server.training.family.step import FamilyStep, columns_of, models_of
from gatenet.server.training.network import Params, initialise, layer_shapes
from gatenet.server.training.spec import Recipe


def start_columns(recipe: Recipe, n: int) -> torch.Tensor:
    """Every restart's starting parameters as buffer columns [P, R], drawn as Train draws them."""
    if recipe.initial_weights is not None:
        return _draw(recipe.init, recipe.seed, recipe.restarts, recipe.hidden_sizes, n, recipe)
    return _drawn(recipe.init, recipe.seed, recipe.restarts, recipe.hidden_sizes, n).clone()


@functools.lru_cache(maxsize=64)  # a family's widths draw alike in every call
def _drawn(init: str, seed: int, restarts: int, hidden: tuple[int, ...], n: int) -> torch.Tensor:
    """start_columns of a recipe without initial weights."""
    return _draw(init, seed, restarts, hidden, n, None)


def _draw(
    init: str, seed: int, r: int, hidden: tuple[int, ...], n: int, given: Recipe | None
) -> torch.Tensor:
    """Restart k's start drawn from seed + k (or the given recipe's initial weights)."""
    start = Params(layer_shapes(n, hidden), r, torch.float32)
    gens = [torch.Generator().manual_seed(seed + k) for k in range(r)]
    initialise(start, init, gens, given.initial_weights if given is not None else None)
    per_restart = [start.restart_weights(k) for k in range(r)]
    stacked = {name: np.stack([w[name] for w in per_restart]) for name in per_restart[0]}
    return torch.from_numpy(columns_of(stacked, n, hidden[0] if hidden else 0))


def train_tables(
    targets: np.ndarray,
    recipe: Recipe,
    *,
    capacity: int,
    should_stop: Callable[[], bool] = lambda: False,
    on_check: Callable[[int], None] | None = None,
    deadline: float = float("inf"),
) -> BatchResult:
    """Train every table [F, rows], at most `capacity` at once; one result each (as batch.py)."""
    count, rows = targets.shape
    n = rows.bit_length() - 1
    h = recipe.hidden_sizes[0] if recipe.hidden_sizes else 0
    r, every, budget = recipe.restarts, recipe.check_every, recipe.steps
    start = start_columns(recipe, n)
    tables = torch.from_numpy(targets).float()
    slots = min(count, capacity)
    engine = FamilyStep(recipe, n, slots * r)
    slot_fn = np.full(slots, -1)  # the function each slot trains; -1: free
    slot_start = np.zeros(slots, dtype=np.int64)  # the global step it started at
    result = BatchResult(
        fit=np.zeros(count, dtype=bool),
        margin=np.full(count, -0.5, dtype=np.float32),
        loss=np.full(count, np.inf, dtype=np.float32),
        weights={},  # filled from `kept` at the end
        steps=0,
        timed_out=False,
    )
    kept = np.zeros((start.shape[0], count), dtype=np.float32)  # each one's kept network
    queued = 0  # tables[:queued] have had a slot
    settled = 0
    step, fresh, out_of_time = 0, False, False
    pace = Pace(should_stop, deadline)
    if should_stop():
        raise Cancelled("family training cancelled at step 0")
    while True:
        free = np.flatnonzero(slot_fn < 0)
        if len(free) and queued < count:  # refill at this step: new functions start at 0
            took = free[: count - queued]
            fns = np.arange(queued, queued + len(took))
            queued += len(took)
            cols = _columns(took, r)
            engine.reset(cols, start.repeat(1, len(took)), tables[fns].repeat_interleave(r, 0).T)
            slot_fn[took], slot_start[took], fresh = fns, step, False
        t_check = time.perf_counter()
        if not fresh:
            engine.forward()
            fresh = True
        live = slot_fn >= 0
        own = step - slot_start
        last = out_of_time or time.perf_counter() > deadline
        fit, margin = engine.check()
        fits = fit.reshape(slots, r)
        due = live & ((own % every == 0) | (own >= budget))
        done = due & ((fits.any(axis=1) & recipe.early_stop) | (own >= budget))
        if last:
            result.timed_out = bool((live & ~done).any()) or queued < count
            done = live
        if done.any():
            _settle(result, kept, engine, fits, margin, slot_fn, done, r)
            result.steps = max(result.steps, int(own[done].max()))
            settled += int(done.sum())
            slot_fn[done] = -1
        if on_check is not None:
            on_check(settled)
        if last or settled == count:
            break
        live = slot_fn >= 0
        if queued < count:
            if not live.all():
                continue  # refill the freed slots and check the newcomers at their step 0
        elif 4 * int(live.sum()) <= 3 * slots:  # nothing to refill: shrink to the live ones
            keep = np.flatnonzero(live)
            engine = engine.keep(_columns(keep, r))
            slot_fn, slot_start, slots, fresh = slot_fn[keep], slot_start[keep], len(keep), False
            live = slot_fn >= 0
        own = step - slot_start[live]
        target = step + int((np.minimum((own // every + 1) * every, budget) - own).min())
        check_seconds = time.perf_counter() - t_check

        def steps(k: int, engine: FamilyStep = engine) -> None:
            nonlocal fresh
            engine.run(k, fresh)
            fresh = False

        step = pace.run(step, target, check_seconds, steps)
        out_of_time = pace.out_of_time
    result.weights = models_of(kept, n, h)
    return result


def _columns(slots: np.ndarray, r: int) -> torch.Tensor:
    """The batch columns of function slots: slot s holds columns s*r .. s*r + r - 1."""
    return torch.from_numpy((slots[:, None] * r + np.arange(r)).reshape(-1))


def _settle(
    result: BatchResult,
    kept: np.ndarray,
    engine: FamilyStep,
    fits: np.ndarray,
    margin: np.ndarray,
    slot_fn: np.ndarray,
    done: np.ndarray,
    r: int,
) -> None:
    """Record the kept restart (lowest loss among those that fit, else lowest) of each done one."""
    slots = np.flatnonzero(done)
    losses = engine.losses(_columns(slots, r)).reshape(-1, r)
    ranked = np.where(fits[slots], losses, losses + np.float32(1e30))
    best = np.argmin(ranked, axis=1)
    chosen = slots * r + best
    to = slot_fn[slots]
    result.fit[to] = fits[slots].any(axis=1)
    result.margin[to] = margin[chosen]
    result.loss[to] = losses[np.arange(len(slots)), best]
    kept[:, to] = engine.flat.numpy()[:, chosen]
