"""Training off the request threads: a bounded pool of worker processes.

Tiny-network training is Python-bound, so a training thread would hold the
interpreter lock against the Predict threads; worker processes cannot. Each
worker is fed by one slot thread in the server over a pipe (our own processes
on both ends; nothing from a client is unpickled), with a shared flag to
cancel the run in flight and progress samples flowing back.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from gatenet.server.errors import Cancelled, InvalidArgument, ResourceExhausted, Unavailable
from gatenet.server.training.spec import Progress, TrainResult, TrainSpec

log = logging.getLogger("gatenet.server")

_CANCEL_POLL_SECONDS = 0.02  # how soon a cancel reaches the worker
_PROGRESS_EVERY_SECONDS = 0.05  # worker-side throttle on progress messages


class Job:
    """One training run: submitted, then waited on; cancel() may come from any thread."""

    def __init__(
        self,
        spec: TrainSpec,
        on_progress: Callable[[Progress], None] | None,
        on_done: Callable[[], None] | None,
    ) -> None:
        self.spec = spec
        self.on_progress = on_progress
        self.on_done = on_done
        self.cancel_requested = False
        self._done = threading.Event()
        self._result: TrainResult | None = None
        self._error: BaseException | None = None

    def cancel(self) -> None:
        """Ask the run to stop; safe to call at any time, any number of times."""
        self.cancel_requested = True

    def finish(self, result: TrainResult | None = None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self._done.set()
        if self.on_done is not None:
            self.on_done()

    def wait(self, timeout: float | None = None) -> TrainResult:
        """Block until the run ends; return its result or raise its error."""
        if not self._done.wait(timeout):
            raise TimeoutError("training still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def _worker_main(conn: Any, cancel_flag: Any) -> None:
    """Worker process: warm torch up once, then train specs until told to stop."""
    from gatenet.server.training import trainer

    trainer.warm_up()
    conn.send(("ready",))
    while True:
        message = conn.recv()
        if message is None:
            return
        spec: TrainSpec = message
        try:
            result = trainer.train(
                spec, should_stop=lambda: cancel_flag.value != 0, on_progress=_Throttled(conn)
            )
            conn.send(("done", result))
        except Cancelled as exc:
            conn.send(("cancelled", str(exc)))
        except InvalidArgument as exc:
            conn.send(("invalid", exc.field, str(exc)))
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


class _Slot:
    """One worker process and the server thread that feeds it jobs."""

    def __init__(self, pool: TrainingPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.cancel_flag = pool.ctx.Value("b", 0, lock=False)
        self.conn: Any = None
        self.process: Any = None
        self.thread = threading.Thread(target=self._run, name=f"gatenet-train-{index}", daemon=True)

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

    def _run(self) -> None:
        while True:
            job = self.pool.jobs.get()
            if job is None:
                return
            try:
                self._train(job)
            finally:
                self.pool.release()

    def _train(self, job: Job) -> None:
        if job.cancel_requested or self.pool.closing:
            job.finish(error=Cancelled("training cancelled before it started"))
            return
        self.cancel_flag.value = 0
        try:
            self.conn.send(job.spec)
            while True:
                if job.cancel_requested:
                    self.cancel_flag.value = 1
                if not self.conn.poll(_CANCEL_POLL_SECONDS):
                    continue
                message = self.conn.recv()
                if message[0] == "progress":
                    if job.on_progress is not None:
                        job.on_progress(message[1])
                    continue
                job.finish(**_outcome(message))
                return
        except (EOFError, OSError, BrokenPipeError):
            log.error("training worker %d died; restarting it", self.index)
            job.finish(error=Unavailable("the training worker stopped unexpectedly; retry"))
            self._restart()

    def _restart(self) -> None:
        if self.pool.closing:
            return
        try:
            self.process.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.start_process()
        self.wait_ready()


def _outcome(message: tuple) -> dict[str, Any]:
    kind = message[0]
    if kind == "done":
        return {"result": message[1]}
    if kind == "cancelled":
        return {"error": Cancelled(message[1])}
    if kind == "invalid":
        error = InvalidArgument(message[1], "")
        error.args = (message[2],)
        return {"error": error}
    log.error("training failed in a worker:\n%s", message[1])
    return {"error": RuntimeError("training failed in a worker")}


class TrainingPool:
    """`workers` processes training at once, at most `max_queued` more runs waiting."""

    def __init__(self, workers: int, max_queued: int) -> None:
        # forkserver: workers fork from a clean process that has torch imported once,
        # never from the threaded server process.
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["gatenet.server.training.trainer"])
        self.capacity = workers + max_queued
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.closing = False
        self._in_flight = 0
        self._lock = threading.Lock()
        self._slots = [_Slot(self, i) for i in range(workers)]

    def start(self) -> None:
        """Start every worker and wait until each has torch warmed up."""
        for slot in self._slots:
            slot.start_process()
        for slot in self._slots:
            slot.wait_ready()
            slot.thread.start()

    def submit(
        self,
        spec: TrainSpec,
        on_progress: Callable[[Progress], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> Job:
        """Queue a run, or raise ResourceExhausted when the pool is full."""
        with self._lock:
            if self.closing:
                raise Unavailable("the server is shutting down")
            if self._in_flight >= self.capacity:
                raise ResourceExhausted(
                    f"trainings in flight {self._in_flight} reached the limit {self.capacity} "
                    "(--training-workers + --max-queued-trainings); retry later"
                )
            self._in_flight += 1
        job = Job(spec, on_progress, on_done)
        self.jobs.put(job)
        return job

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        """Stop the workers; runs still queued end as cancelled."""
        self.closing = True
        for _ in self._slots:
            self.jobs.put(None)
        for slot in self._slots:
            if slot.conn is not None:
                try:
                    slot.cancel_flag.value = 1
                    slot.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(timeout=2)
                if slot.process.is_alive():
                    slot.process.kill()
