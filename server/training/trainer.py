"""train(): batched restarts, periodic fit checks, early stop, cancellation and the result."""

from __future__ import annotations

import collections
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import torch

from gatenet.server.errors import Cancelled
from gatenet.server.training.autodiff import AutogradEngine
from gatenet.server.training.evaluate import Check, Evaluator
from gatenet.server.training.manual import ManualEngine
from gatenet.server.training.network import Params, initialise, layer_shapes
from gatenet.server.training.perceptron import PerceptronEngine
from gatenet.server.training.recipe import resolve
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Limits, Progress, Recipe, Summary, TrainResult, TrainSpec
from gatenet.server.training.tasks import gate_task

POLL_SECONDS = 0.005  # should_stop() is called at least this often (and at every fit check)
# A run with a time limit stops before work that would pass it, timed at its recent pace times
# this: on a busy machine a step can take 1.6x the slowest before it (2.7 s, then 4.5 s on this
# 2-core VM under load), and the server kills a run that overruns its cap by a second.
PACE_SAFETY = 2.0
PACE_WINDOW = 8  # chunks (and fit checks) the pace is taken from


@contextlib.contextmanager
def run_settings() -> Iterator[None]:
    """The thread's settings for a training run, given back after it."""
    # Tiny ops never gain from intra-op threads, and the server runs several trainings at once
    # in worker processes: one thread each keeps them from fighting over the cores.
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    # Subnormal floats (below 1.2e-38) make x86 arithmetic ~5x slower: backprop errors of a big
    # network pass through them for a few steps, which took 1.5 s steps to 7 s and broke the
    # pace the time cap is judged by. Flushed to zero, every run of a recipe computes alike.
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        # The flush is the run's, not the process's: a caller in the same thread (a test, a
        # notebook) gets IEEE subnormals back (hypothesis refuses to draw floats without them).
        torch.set_flush_denormal(False)


class Engine(Protocol):
    """Runs training steps on the batched parameters it was built with."""

    def run(self, steps: int) -> None: ...


_ENGINES: dict[str, Callable[[Params, Feed, Recipe], Engine]] = {
    "autograd": AutogradEngine,
    "manual": ManualEngine,
    "perceptron": PerceptronEngine,
}


class _Budget:
    """When a run with a time limit stops: before a chunk of steps and the fit check after it
    would end past the limit, at the pace of the latest chunks and checks."""

    def __init__(self, started: float, time_limit: float | None) -> None:
        self.deadline = started + time_limit if time_limit is not None else math.inf
        self.step_seconds = 0.0  # per step, in the latest chunk
        # A chunk takes at least as long as the slowest of the latest ones (a step of a big
        # network); a one-off slow chunk is forgotten, not multiplied by the next chunk's size.
        self.chunks: collections.deque[float] = collections.deque(maxlen=PACE_WINDOW)
        self.checks: collections.deque[float] = collections.deque(maxlen=PACE_WINDOW)

    def stepped(self, steps: int, seconds: float) -> None:
        self.step_seconds = seconds / steps
        self.chunks.append(seconds)

    def checked(self, seconds: float) -> None:
        self.checks.append(seconds)

    def allows(self, steps: int) -> bool:
        """Whether `steps` more steps and a final fit check end within the limit."""
        chunk = max(steps * self.step_seconds, max(self.chunks, default=0.0))
        needed = PACE_SAFETY * (chunk + max(self.checks, default=0.0))
        return time.perf_counter() + needed <= self.deadline


class _Curve:
    """Loss-curve samples of every restart, thinned by halving to stay within a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.points: list[tuple[int, torch.Tensor]] = []
        self.stride, self.seen = 1, 0

    def add(self, step: int, loss: torch.Tensor) -> None:
        if self.seen % self.stride == 0:
            if len(self.points) >= self.limit:
                self.points = self.points[::2]
                self.stride *= 2
            self.points.append((step, loss))
        self.seen += 1

    def of(self, k: int, last: tuple[int, torch.Tensor]) -> list[tuple[int, float]]:
        """Restart k's curve (the kept one), ending at the last check, within the limit."""
        points = self.points
        if points[-1][0] != last[0]:  # thinned away: the end replaces the last sample if full
            points = [*points[: self.limit - 1], last]
        return [(step, float(loss[k])) for step, loss in points]


def train(
    recipe: Recipe,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[Progress], None] | None = None,
    dtype: torch.dtype = torch.float32,
    time_limit: float | None = None,
) -> TrainResult:
    """Train a recipe's restarts at once and return the kept restart and how it went.

    Within `time_limit` seconds the run ends as if its step budget were spent (stopped_by
    "time"), with the best restart at its last step; it runs at least one step.
    """
    with run_settings():
        return _train(recipe, should_stop, on_progress, dtype, time_limit)


def _train(
    recipe: Recipe,
    should_stop: Callable[[], bool],
    on_progress: Callable[[Progress], None] | None,
    dtype: torch.dtype,
    time_limit: float | None,
) -> TrainResult:
    started = time.perf_counter()
    data = recipe.dataset
    r = recipe.restarts
    gens = [torch.Generator().manual_seed(recipe.seed + k) for k in range(r)]
    params = Params(layer_shapes(data.num_inputs, recipe.hidden_sizes), r, dtype)
    initialise(params, recipe.init, gens, recipe.initial_weights)
    x = torch.from_numpy(data.inputs).to(dtype)
    y = torch.from_numpy(data.targets).to(dtype)
    feed = Feed(x, y, gens, recipe.schedule, recipe.batch_size, recipe.row_order)
    engine = _ENGINES[recipe.method](params, feed, recipe)
    evaluate = Evaluator(x, y, recipe)

    curve = _Curve(recipe.curve_points)
    step, poll = 0, 1
    budget = _Budget(started, time_limit)
    timed_out = False
    if should_stop():
        raise Cancelled("training cancelled at step 0")
    while True:
        t0 = time.perf_counter()
        check = evaluate(params)
        curve.add(step, check.loss)
        fitting = int(check.fit.sum())
        done = timed_out or step >= recipe.steps or (recipe.early_stop and fitting > 0)
        if on_progress is not None:  # at every fit check; the caller throttles if it must
            on_progress(_progress(check, step, fitting, r))
        budget.checked(time.perf_counter() - t0)
        if done:
            break
        checked_at = step
        target = min(step + recipe.check_every, recipe.steps)
        while step < target:
            n = min(poll, target - step)
            # Step 0 is no model a request can ask for again (steps >= 1): one step always runs.
            if step and not budget.allows(n):
                timed_out = True
                break
            t0 = time.perf_counter()
            engine.run(n)
            step += n
            if should_stop():
                raise Cancelled(f"training cancelled at step {step}")
            took = time.perf_counter() - t0
            budget.stepped(n, took)
            # Aim for one should_stop() call per POLL_SECONDS, whatever a step costs.
            poll = max(1, int(POLL_SECONDS * n / max(took, 1e-9)))
        if timed_out and step == checked_at:  # the last check was of this very step
            break

    k = Evaluator.best(check)
    summary = Summary(
        fit=bool(check.fit[k]),
        accuracy=float(check.accuracy[k]),
        final_loss=float(check.loss[k]),
        steps=step,
        restarts=r,
        restart_index=k,
        restarts_fit=fitting,
        seed_used=recipe.seed + k,
        margin_reached=float(check.margin[k]),
        train_seconds=time.perf_counter() - started,
        stopped_by="time" if timed_out else "steps" if step >= recipe.steps else "early_stop",
    )
    return TrainResult(params.restart_weights(k), summary, curve.of(k, (step, check.loss)))


def warm_up() -> None:
    """Pay torch's lazy imports and first-call costs (~1 s for torch.optim) before serving."""
    limits = Limits()
    xor = gate_task("xor", 0, limits)
    for method, optimizer, schedule in [
        ("manual", "adam", "full_batch"),
        ("manual", "sgd", "mini_batch"),
        ("autograd", "adam", "online"),
        ("autograd", "sgd", "full_batch"),
        ("perceptron", None, "full_batch"),
    ]:
        spec = TrainSpec(
            xor, method=method, optimizer=optimizer, schedule=schedule, steps=20, restarts=2, seed=0
        )
        train(resolve(spec, limits))


def _progress(check: Check, step: int, fitting: int, restarts: int) -> Progress:
    k = int(torch.argmin(check.loss))  # the proto's "lowest loss among restarts"
    return Progress(
        step=step,
        best_loss=float(check.loss[k]),
        best_accuracy=float(check.accuracy[k]),
        restarts_fit=fitting,
        restarts=restarts,
    )
