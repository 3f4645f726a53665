"""Running a family's steps up to its next fit check: in slices short enough that a cancel is
seen about every POLL_SECONDS, and stopping short of the deadline at the pace seen so far."""

from __future__ import annotations

import time
from collections.abc import Callable

from gatenet.server.errors import Cancelled
from gatenet.server.training.trainer import PACE_SAFETY, POLL_SECONDS


class Pace:
    """Steps per slice and seconds per step, learnt as the run goes."""

    def __init__(self, should_stop: Callable[[], bool], deadline: float) -> None:
        self._should_stop = should_stop
        self._deadline = deadline
        self._poll = 1  # steps per slice: about POLL_SECONDS of them
        self._step_seconds = 0.0
        self.out_of_time = False  # a slice would have ended past the deadline

    def run(
        self, step: int, target: int, check_seconds: float, steps: Callable[[int], None]
    ) -> int:
        """Run `steps(k)` slices from `step` to `target`; the step reached (short of it when
        out of time). Cancelled when should_stop() says so."""
        while step < target:
            k = min(self._poll, target - step)
            # Stop short of the deadline: the steps and the final check must end before it
            # (the pool kills a run a second past its cap), at twice the pace seen so far.
            needed = PACE_SAFETY * (k * self._step_seconds + check_seconds)
            if step and time.perf_counter() + needed > self._deadline:
                self.out_of_time = True
                break
            t0 = time.perf_counter()
            steps(k)
            step += k
            if self._should_stop():
                raise Cancelled(f"family training cancelled at step {step}")
            took = time.perf_counter() - t0
            self._step_seconds = took / k
            self._poll = max(1, int(POLL_SECONDS * k / max(took, 1e-9)))
        return step
