"""Where a Predict's forward pass runs: a small one on the event loop, a big one on a thread.

numpy lets go of the interpreter lock in its matmuls, elementwise loops and sums,
so a big forward (and the finiteness check of its rows) on a thread leaves the
loop free for other calls: health checks, small Predicts. A thread hop costs
~0.1 ms, more than a small forward, so those run in place.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gatenet.server.models import rows as row_checks
from gatenet.server.models.compiled import CompiledModel
from gatenet.server.models.rows import Rows

# Multiply-adds a forward may run on the event loop (~1 ms here); bigger ones go to a thread.
# Counted as if every row ran the network, truth-table answers included.
LOOP_WORK = 1_000_000
FORWARD_NICE = 10  # a big forward yields the CPU to the event loop's small calls


def _lower_priority() -> None:
    # Linux gives each thread its own nice value: only this forward thread yields.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FORWARD_NICE)
    except OSError:  # not allowed or not Linux: it runs at the server's priority
        pass


# One thread per core: each forward uses one BLAS thread; more would only share the cores.
_THREADS = ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1,
    thread_name_prefix="gatenet-forward",
    initializer=_lower_priority,
)


def in_place(model: CompiledModel, count: int) -> bool:
    """Whether `count` rows of `model` are answered on the event loop (answer_here)."""
    return count * model.layout.work <= LOOP_WORK


async def answer(model: CompiledModel, rows: Rows, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels of `count` rows whose shape was checked; InvalidArgument when
    a value is not finite."""
    if in_place(model, count):
        return answer_here(model, rows, count)
    return await asyncio.get_running_loop().run_in_executor(
        _THREADS, answer_here, model, rows, count
    )


def answer_here(model: CompiledModel, rows: Rows, count: int) -> tuple[np.ndarray, np.ndarray]:
    """answer() on this thread (no coroutine: the small Predicts' path)."""
    # Rows the truth table answers hold only 0s and 1s: only the others need the check.
    answered = model.from_table(rows, count)
    if answered is not None:
        return answered
    largest = row_checks.check_finite(rows, model.num_inputs)
    return model.compute(rows, count, largest)
