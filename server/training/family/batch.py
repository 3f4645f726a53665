"""Train many truth tables x restarts at one width in one batched program (full batch).

Element f * R + k of the batch is restart k of function f; restart k of every function starts
from the weights a Train of that recipe would give its restart k (seed + k). A function whose
restart fits at a check is done (with early stop): it leaves the batch, which is compacted,
optimizer state included, so the still-unfit ones run on alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gatenet.server.errors import Cancelled
from gatenet.server.training.evaluate import Evaluator
from gatenet.server.training.family.pace import Pace
from gatenet.server.training.manual import ManualEngine
from gatenet.server.training.network import Params, initialise, layer_shapes
from gatenet.server.training.optim import FlatAdam
from gatenet.server.training.spec import Recipe
from gatenet.vocabulary.gates import table_inputs
from gatenet.vocabulary.layers import bias_name, weight_name


@dataclass
class BatchResult:
    """Per function [F]: fit, the kept restart's margin and loss, and its weights [F, ...]."""

    fit: np.ndarray
    margin: np.ndarray
    loss: np.ndarray
    weights: dict[str, np.ndarray]
    steps: int  # steps the longest-running function ran
    timed_out: bool  # the deadline ended the run before every function was settled


class _FullFeed:
    """The whole table every step: x [B, rows, F] and y [B, rows, 1], fixed."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x = x.expand(y.shape[0], *x.shape)
        self.y = y.unsqueeze(2)
        self.rows_per_step = x.shape[0]

    def next(self) -> None:
        """Nothing to load: every step sees every row."""


class _Batch:
    """The live functions' parameters, engine and fit check."""

    def __init__(self, recipe: Recipe, x: torch.Tensor, y: torch.Tensor, params: Params) -> None:
        self.params = params
        self.y = y
        self.engine = ManualEngine(params, _FullFeed(x, y), recipe)  # type: ignore[arg-type]
        self.evaluate = Evaluator(x, y, recipe)

    def keep(self, recipe: Recipe, x: torch.Tensor, keep: torch.Tensor, r: int) -> _Batch:
        """A batch of only the functions `keep` indexes (into the live ones), state carried."""
        old, shapes = self.params, self.params.shapes
        new = Params(shapes, len(keep) * r, old.flat.dtype)
        y = self.y.view(-1, r, self.y.shape[1])[keep].reshape(-1, self.y.shape[1])
        batch = _Batch(recipe, x, y, new)
        pairs = [(old.flat, new.flat)]
        opt_old, opt_new = self.engine.opt, batch.engine.opt
        if isinstance(opt_old, FlatAdam) and isinstance(opt_new, FlatAdam):
            pairs += [(opt_old.m, opt_new.m), (opt_old.v, opt_new.v)]
            opt_new.t = opt_old.t
        elif opt_old.buf is not None and opt_new.buf is not None:  # type: ignore[union-attr]
            pairs.append((opt_old.buf, opt_new.buf))  # type: ignore[union-attr]
        for src, dst in pairs:
            for a, b in zip(_views(old, src), _views(new, dst), strict=True):
                b.copy_(a.view(-1, r, *a.shape[1:])[keep].reshape(b.shape))
        return batch


def _views(params: Params, flat: torch.Tensor) -> list[torch.Tensor]:
    weights, biases = params.views(flat)
    return [t for pair in zip(weights, biases, strict=True) for t in pair]


def train_tables(
    targets: np.ndarray,
    recipe: Recipe,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_check: Callable[[int], None] | None = None,
    deadline: float = float("inf"),
) -> BatchResult:
    """Train every table [F, rows] with the recipe's network and restarts; one result each.

    on_check(functions settled so far) is called at every fit check; past `deadline`
    (perf_counter seconds) the run ends with the unsettled functions at their best so far.
    """
    dtype = torch.float32
    count, rows = targets.shape
    n = rows.bit_length() - 1
    r, shapes = recipe.restarts, layer_shapes(n, recipe.hidden_sizes)
    x = torch.from_numpy(table_inputs(n)).to(dtype)
    start = Params(shapes, r, dtype)
    gens = [torch.Generator().manual_seed(recipe.seed + k) for k in range(r)]
    initialise(start, recipe.init, gens, recipe.initial_weights)
    params = Params(shapes, count * r, dtype)
    with torch.no_grad():
        for a, b in zip(_views(start, start.flat), _views(params, params.flat), strict=True):
            b.view(count, r, *a.shape[1:]).copy_(a.unsqueeze(0))
    y = torch.from_numpy(targets).to(dtype).repeat_interleave(r, dim=0)
    batch = _Batch(recipe, x, y, params)

    names = [name for i in range(len(shapes)) for name in (weight_name(i), bias_name(i))]
    result = BatchResult(
        fit=np.zeros(count, dtype=bool),
        margin=np.full(count, -0.5, dtype=np.float32),
        loss=np.full(count, np.inf, dtype=np.float32),
        weights={
            name: np.zeros((count, *t.shape[1:]), dtype=np.float32)
            for name, t in zip(names, _views(start, start.flat), strict=True)
        },
        steps=0,
        timed_out=False,
    )
    for name in names:  # biases are [R, 1, fo] inside, [fo] per model
        if name.endswith(".bias"):
            result.weights[name] = result.weights[name][:, 0, :]
    live = np.arange(count)  # function index of each live function, in batch order
    step, out_of_time = 0, False
    pace = Pace(should_stop, deadline)
    if should_stop():
        raise Cancelled("family training cancelled at step 0")
    while True:
        t_check = time.perf_counter()
        check = batch.evaluate(batch.params)
        fit = check.fit.view(-1, r)
        last = step >= recipe.steps or out_of_time or time.perf_counter() > deadline
        done = fit.any(dim=1) if recipe.early_stop else torch.zeros(len(live), dtype=torch.bool)
        if last:
            done = torch.ones(len(live), dtype=torch.bool)
        if bool(done.any()):
            _settle(result, batch, check, fit, done, live, r, names)
            live = live[~done.numpy()]
        if on_check is not None:
            on_check(count - len(live))
        if not len(live):
            result.timed_out = step < recipe.steps and last
            break
        if bool(done.any()):
            batch = batch.keep(recipe, x, torch.nonzero(~done).view(-1), r)
        check_seconds = time.perf_counter() - t_check
        target = min(step + recipe.check_every, recipe.steps)
        step = pace.run(step, target, check_seconds, batch.engine.run)
        out_of_time = pace.out_of_time
        result.steps = step
    return result


def _settle(
    result: BatchResult,
    batch: _Batch,
    check: object,
    fit: torch.Tensor,
    done: torch.Tensor,
    live: np.ndarray,
    r: int,
    names: list[str],
) -> None:
    """Record the kept restart (lowest loss among those that fit, else lowest) of each done one."""
    loss = check.loss.view(-1, r)  # type: ignore[attr-defined]
    ranked = torch.where(fit, loss, loss + 1e30)  # a fitting restart always ranks first
    best = torch.argmin(ranked, dim=1)
    rows = torch.nonzero(done).view(-1)
    chosen = rows * r + best[rows]
    to = live[rows.numpy()]
    result.fit[to] = fit.any(dim=1)[rows].numpy()
    result.margin[to] = check.margin[chosen].numpy()  # type: ignore[attr-defined]
    result.loss[to] = loss.reshape(-1)[chosen].numpy()
    for name, view in zip(names, _views(batch.params, batch.params.flat), strict=True):
        value = view[chosen].detach().numpy()
        result.weights[name][to] = value[:, 0, :] if name.endswith(".bias") else value
