"""Training off the event loop: a bounded pool of worker processes, one awaited call per run.

Tiny-network training is Python-bound, so a training thread would hold the
interpreter lock against the serving loop; worker processes cannot. Each worker
is fed by one slot thread over a pipe (our own processes on both ends; nothing
from a client is unpickled), with a shared flag to cancel the run in flight.
Workers run at a lower CPU priority than the server, so serving keeps its core,
and they stop when the server's end of their pipe closes, even after a kill -9.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gatenet.server.errors import Cancelled, DeadlineExceeded, ResourceExhausted, Unavailable
from gatenet.server.training.spec import Progress, Recipe, TrainResult

log = logging.getLogger("gatenet.server")

_CANCEL_POLL_SECONDS = 0.01  # how soon a cancel reaches the worker
# A worker checks for a cancel between steps; one still busy this long after (a step of a
# big recipe can take seconds) is killed and replaced, so the slot is free at once.
KILL_AFTER_SECONDS = 0.05
_CAP_GRACE_SECONDS = 1.0  # past its time cap a run gets this long to hand back its best
_PROGRESS_EVERY_SECONDS = 0.05  # worker-side throttle on progress messages
WORKER_NICE = 10  # CFS gives a nice-10 process about a tenth of a nice-0 one's share


def _worker_main(conn: Any, cancel_flag: Any) -> None:
    """Worker process: warm torch up once, then train recipes until told to stop."""
    from gatenet.server.training import trainer

    trainer.warm_up()  # at full priority: a replaced worker is ready again soon
    os.nice(WORKER_NICE)
    conn.send(("ready",))

    def should_stop() -> bool:
        # The server only writes to the pipe mid-run to stop us (None), and a dead server
        # makes it readable too (EOF): either way, stop.
        return cancel_flag.value != 0 or conn.poll()

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        recipe, time_limit = message
        try:
            result = trainer.train(
                recipe,
                should_stop=should_stop,
                on_progress=_Throttled(conn),
                time_limit=time_limit,
            )
            conn.send(("done", result))
        except Cancelled as exc:
            conn.send(("cancelled", str(exc)))
        except Exception:  # noqa: BLE001 - reported to the server, which logs it
            conn.send(("failed", traceback.format_exc()))


class _Throttled:
    """Sends progress to the server at most every _PROGRESS_EVERY_SECONDS."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last >= _PROGRESS_EVERY_SECONDS:
            self._last = now
            self._conn.send(("progress", progress))


@dataclass(eq=False)
class _Run:
    """A queued run and the future its awaiting handler holds; settled from a slot thread."""

    recipe: Recipe
    owner: str
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[TrainResult]
    on_progress: Callable[[Progress], None] | None
    cancelled: bool = False
    started: bool = False
    released: bool = False  # its place in the pool's counts is given back

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def progress(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self._call(self.on_progress, progress)

    def finish(self, result: TrainResult | None, error: BaseException | None) -> None:
        self._call(self._settle, result, error)

    def _settle(self, result: TrainResult | None, error: BaseException | None) -> None:
        if self.done.done():  # the handler was cancelled and stopped waiting
            return
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(result)  # type: ignore[arg-type]


class _Slot:
    """One worker process and the server thread that feeds it runs."""

    def __init__(self, pool: TrainingPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.cancel_flag = pool.ctx.Value("b", 0, lock=False)
        self.conn: Any = None
        self.process: Any = None
        self.ready = False
        self.thread = threading.Thread(
            target=self._serve, name=f"gatenet-train-{index}", daemon=True
        )

    def start_process(self) -> None:
        parent, child = self.pool.ctx.Pipe()
        self.process = self.pool.ctx.Process(
            target=_worker_main,
            args=(child, self.cancel_flag),
            name=f"gatenet-worker-{self.index}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.conn = parent

    def wait_ready(self) -> None:
        if self.conn.recv() != ("ready",):
            raise RuntimeError("training worker did not start")

    def _serve(self) -> None:
        try:
            self._ensure_ready()  # torch warms up here, while the server already serves
        except (EOFError, OSError, RuntimeError):
            log.error("training worker %d did not start; replacing it", self.index)
            self._replace()
        while (run := self.pool.runs.get()) is not None:
            try:
                self._train(run)
            finally:
                self.pool.release(run)

    def _train(self, run: _Run) -> None:
        if run.cancelled:
            run.finish(None, Cancelled("training cancelled before it started"))
            return
        if self.pool.closing:
            run.finish(None, Unavailable("the server is shutting down; retry on another replica"))
            return
        run.started = True
        self.cancel_flag.value = 0
        cap = self.pool.max_train_seconds
        cancelled_at = 0.0
        try:
            self._ensure_ready()
            overdue_at = time.monotonic() + cap + _CAP_GRACE_SECONDS
            self.conn.send((run.recipe, cap))
            while True:
                if run.cancelled and not cancelled_at:
                    self.cancel_flag.value = 1
                    cancelled_at = time.monotonic()
                if not self.conn.poll(_CANCEL_POLL_SECONDS):
                    now = time.monotonic()
                    if cancelled_at and now - cancelled_at > KILL_AFTER_SECONDS:
                        self._replace()
                        run.finish(None, Cancelled("training cancelled mid-step"))
                        return
                    if now > overdue_at:
                        self._replace()
                        run.finish(
                            None,
                            DeadlineExceeded(
                                f"training passed the cap --max-train-seconds {cap:g} inside one "
                                "step, so it has nothing to hand back; use a smaller recipe"
                            ),
                        )
                        return
                    continue
                kind, payload = self.conn.recv()
                if kind == "progress":
                    run.progress(payload)
                elif kind == "done":
                    run.finish(payload, None)
                    return
                elif kind == "cancelled":
                    run.finish(None, Cancelled(payload))
                    return
                else:
                    log.error("training failed in a worker:\n%s", payload)
                    run.finish(None, RuntimeError("training failed in a worker"))
                    return
        except (EOFError, OSError):
            log.error("training worker %d died; restarting it", self.index)
            run.finish(None, Unavailable("the training worker stopped unexpectedly; retry"))
            self._replace()

    def _replace(self) -> None:
        """Kill the worker and start another; it warms up while its first run waits."""
        try:
            self.process.kill()
            self.process.join(1)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.conn.close()
        if not self.pool.closing:
            self.start_process()
            self.ready = False

    def _ensure_ready(self) -> None:
        if not self.ready:
            self.wait_ready()
            self.ready = True


class TrainingPool:
    """`workers` processes training at once, at most `max_queued` more runs waiting."""

    def __init__(
        self, workers: int, max_queued: int, max_per_client: int, max_train_seconds: float
    ) -> None:
        # forkserver: workers fork from a clean process that has torch imported once,
        # never from the threaded server process.
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["gatenet.server.training.trainer"])
        self.capacity = workers + max_queued
        self.max_per_client = max_per_client
        self.max_train_seconds = max_train_seconds
        self.runs: queue.SimpleQueue[_Run | None] = queue.SimpleQueue()
        self.closing = False
        self._in_flight = 0
        self._by_owner: dict[str, int] = {}
        self._lock = threading.Lock()
        self._slots = [_Slot(self, i) for i in range(workers)]

    def start(self) -> None:
        """Start every worker; each warms torch up in the background, and a run that comes
        first waits for it."""
        for slot in self._slots:
            slot.start_process()
            slot.thread.start()

    async def run(
        self,
        recipe: Recipe,
        on_progress: Callable[[Progress], None] | None = None,
        owner: str = "",
    ) -> TrainResult:
        """Train on a worker and return the result; progress is called on this loop.

        ResourceExhausted when the pool is full or `owner` (a client) has its share in
        flight; Cancelled when the run was stopped; if the awaiting task is cancelled
        (client gone, deadline), the worker is told to stop.
        """
        with self._lock:
            if self.closing:
                raise Unavailable("the server is shutting down; retry on another replica")
            if self._in_flight >= self.capacity:
                raise ResourceExhausted(
                    f"trainings in flight {self._in_flight} reached the limit {self.capacity} "
                    "(--training-workers + --max-queued-trainings); retry later"
                )
            if self._by_owner.get(owner, 0) >= self.max_per_client:
                raise ResourceExhausted(
                    f"this client has {self.max_per_client} trainings in flight, the limit "
                    "per client (--max-trainings-per-client); wait for one to finish"
                )
            self._in_flight += 1
            self._by_owner[owner] = self._by_owner.get(owner, 0) + 1
        loop = asyncio.get_running_loop()
        run = _Run(recipe, owner, loop, loop.create_future(), on_progress)
        self.runs.put(run)
        try:
            return await run.done
        except asyncio.CancelledError:
            run.cancelled = True
            if not run.started:  # still queued: its place is free now, not when dequeued
                self.release(run)
            raise

    def release(self, run: _Run) -> None:
        with self._lock:
            if run.released:
                return
            run.released = True
            self._in_flight -= 1
            left = self._by_owner[run.owner] - 1
            if left:
                self._by_owner[run.owner] = left
            else:
                del self._by_owner[run.owner]

    def drain(self) -> None:
        """Take no more runs; those still queued are refused now with UNAVAILABLE (a client
        retries them elsewhere) while the running ones finish."""
        self.closing = True
        while True:
            try:
                run = self.runs.get_nowait()
            except queue.Empty:
                return
            if run is not None:
                run.finish(
                    None, Unavailable("the server is shutting down; retry on another replica")
                )
                self.release(run)

    def close(self) -> None:
        """Stop the workers; a run still going is cancelled."""
        self.closing = True
        for _ in self._slots:
            self.runs.put(None)
        for slot in self._slots:
            if slot.conn is not None:
                try:
                    slot.cancel_flag.value = 1
                    slot.conn.send(None)
                except OSError:
                    pass
        for slot in self._slots:
            if slot.process is not None:
                if slot.ready:  # it reads the None and returns; one still warming is killed
                    slot.process.join(timeout=2)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join(timeout=2)
