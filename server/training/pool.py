"""Training off the event loop: a bounded pool of worker processes, one awaited call per run.

Tiny-network training is Python-bound, so a training thread would hold the
interpreter lock against the serving loop; worker processes cannot. The event
loop talks to each worker over a pipe it watches itself (our own processes on
both ends; nothing from a client is unpickled): no thread sits between them, so
a finished run wakes the awaiting handler directly. A shared flag cancels the run
in flight. Workers run at a lower CPU priority than the server, so serving keeps
its core, and they stop when the server's end of their pipe closes, even after a
kill -9. Waiting runs queue per client and clients take turns for a worker, so one
client's backlog delays another's run by about one training. Every method but
close() runs on the server's event loop.

A run's answer is what the pool's `finish(recipe, result)` makes of the result, called in
the worker right after training: the layer above passes in what readies a model to store
and serve (models/trained.py), so that work runs while the worker is hot and not on the
loop, and the training core knows nothing of it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gatenet.server.errors import Cancelled, DeadlineExceeded, ResourceExhausted, Unavailable
from gatenet.server.training.spec import Progress, Recipe, TrainResult

log = logging.getLogger("gatenet.server")

T = TypeVar("T")
Finish = Callable[[Recipe, TrainResult], T]  # a run's answer, made in the worker

# A worker checks for a cancel between steps; one still busy this long after (a step of a
# big recipe can take seconds) is killed and replaced, so its place is free at once.
KILL_AFTER_SECONDS = 0.05
_CAP_GRACE_SECONDS = 1.0  # past its time cap a run gets this long to hand back its best
_RESTART_DELAY_SECONDS = 1.0  # a worker that died before it was ready is restarted after this
_PROGRESS_EVERY_SECONDS = 0.05  # worker-side throttle on progress messages
WORKER_NICE = 10  # CFS gives a nice-10 process about a tenth of a nice-0 one's share


class Refused(ResourceExhausted):
    """The pool, or the client's share of it, is full: the run was turned away untrained."""


class Draining(Unavailable):
    """The server is shutting down: the run was turned away untrained."""


def _worker_main(conn: Any, cancel_flag: Any, finish: Finish[Any]) -> None:
    """Worker process: warm torch up once, then train recipes until told to stop."""
    from gatenet.server.training import trainer

    # Ctrl-C and group kills reach every process of the group; stopping is the server's call
    # (it drains, then sends None). A server that died closes the pipe, which ends us too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
        recipe, time_limit, wants_progress = message
        try:
            run = trainer.train if isinstance(recipe, Recipe) else _train_family
            result = run(
                recipe,
                should_stop=should_stop,
                on_progress=_Throttled(conn) if wants_progress else None,
                time_limit=time_limit,
            )
            # A Train's result is readied in the worker (finish); a family's goes back as is.
            conn.send(("done", finish(recipe, result) if isinstance(recipe, Recipe) else result))
        except Cancelled as exc:
            conn.send(("cancelled", str(exc)))
        except Exception:  # noqa: BLE001 - reported to the server, which logs it
            conn.send(("failed", traceback.format_exc()))


def _train_family(plan: Any, **kwargs: Any) -> Any:
    """A family (family/search.py), imported on a worker's first family only."""
    from gatenet.server.training.family.search import train_family

    return train_family(plan, **kwargs)


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
    """A run queued or training, and the future its awaiting handler holds."""

    recipe: Recipe | Any  # or a family's plan (family/search.py FamilyPlan)
    owner: str
    done: asyncio.Future[Any]
    on_progress: Callable[[Any], None] | None
    worker: _Worker | None = None  # set while it trains
    on_dispatch: Callable[[], None] | None = None  # told when a worker takes it (traces)
    cap: tuple[float, str] | None = None  # (seconds, its flag); None = --max-train-seconds

    def settle(self, result: Any, error: BaseException | None) -> None:
        if self.done.done():  # the handler was cancelled and stopped waiting
            return
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(result)


Submitted = _Run  # what submit() hands back: pass it to wait() or abandon()


@dataclass(eq=False)
class _Worker:
    """One worker process, the loop's end of its pipe, and the run it trains."""

    index: int
    process: Any
    conn: Any
    cancel_flag: Any
    ready: bool = False
    run: _Run | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def stop_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


class TrainingPool(Generic[T]):
    """`workers` processes training at once, at most `max_queued` more runs waiting; each
    run answers what `finish` (called in the worker) made of its result."""

    def __init__(
        self,
        workers: int,
        max_queued: int,
        max_per_client: int,
        max_train_seconds: float,
        finish: Finish[T],
    ) -> None:
        # forkserver: workers fork from a clean process that has torch imported once,
        # never from the threaded server process.
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["gatenet.server.training.trainer"])
        self.workers = workers
        self.capacity = workers + max_queued
        self.max_per_client = max_per_client
        self.max_train_seconds = max_train_seconds
        self.finish = finish  # passed to each worker by reference (a module-level function)
        self.closing = False
        self._queues: dict[str, collections.deque[_Run]] = {}  # each client's waiting runs
        self._workers: list[_Worker] = []
        self._in_flight = 0
        self._by_owner: dict[str, int] = {}
        # When each client with runs in flight last got a worker (a dispatch count): the one
        # served longest ago goes next, which is round-robin over the clients that wait.
        self._served: dict[str, int] = {}
        self._dispatches = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warm: asyncio.Event | None = None  # set once every worker has said ready

    async def start(self) -> None:
        """Start every worker; each warms torch up in the background, and a run that comes
        first waits for it."""
        self._loop = asyncio.get_running_loop()
        self._warm = asyncio.Event()
        self._workers = [self._spawn(i) for i in range(self.workers)]

    @property
    def in_flight(self) -> int:
        """Runs queued or training (a cancelled one counts until its worker has stopped)."""
        return self._in_flight

    # -- runs -------------------------------------------------------------------------

    async def run(
        self,
        recipe: Recipe,
        on_progress: Callable[[Progress], None] | None = None,
        owner: str = "",
        on_dispatch: Callable[[], None] | None = None,
    ) -> T:
        """Train on a worker and return what finish made of the result; progress is called on
        this loop.

        Refused (RESOURCE_EXHAUSTED) when the pool is full or `owner` (a client) has its
        share in flight, Draining (UNAVAILABLE) once the server drains, queued runs too;
        Cancelled when the run was stopped; if the awaiting task is cancelled
        (client gone, deadline), the worker is told to stop.
        """
        return await self.wait(self.submit(recipe, on_progress, owner, on_dispatch))

    async def run_family(
        self,
        plan: Any,
        on_progress: Callable[[Any], None] | None,
        owner: str,
        cap: tuple[float, str],
    ) -> Any:
        """Train a family's plan (family/search.py) on one worker, within its own cap
        (seconds, flag); its answer is the family's result as is (no finish)."""
        return await self.wait(self.submit(plan, on_progress, owner, cap=cap))

    async def warmed(self) -> None:
        """Return once every worker has warmed up (tests and benchmarks that need them all)."""
        assert self._warm is not None, "start() first"
        await self._warm.wait()

    def spare(self, owner: str) -> int:
        """Runs `owner` could start on a worker right now: idle workers, nothing queued, within
        the client's share (a family splits over at most this many)."""
        if self.closing or self._queues:
            return 0
        idle = sum(1 for worker in self._workers if worker.ready and worker.run is None)
        return max(0, min(idle, self.max_per_client - self._by_owner.get(owner, 0)))

    def submit(
        self,
        recipe: Recipe | Any,
        on_progress: Callable[[Any], None] | None = None,
        owner: str = "",
        on_dispatch: Callable[[], None] | None = None,
        cap: tuple[float, str] | None = None,
    ) -> Submitted:
        """run() in two steps: hand the recipe to a free worker now (or queue it), with no
        loop turn first, so the caller can do other work while it trains; Refused or
        Draining here. The caller then awaits wait(), or calls abandon() if it gives up."""
        if self.closing:
            raise Draining("the server is shutting down; retry on another replica")
        if self._in_flight >= self.capacity:
            raise Refused(
                f"trainings in flight {self._in_flight} reached the limit {self.capacity} "
                "(--training-workers + --max-queued-trainings); retry later"
            )
        if self._by_owner.get(owner, 0) >= self.max_per_client:
            raise Refused(
                f"this client has {self.max_per_client} trainings in flight, the limit "
                "per client (--max-trainings-per-client); wait for one to finish"
            )
        self._in_flight += 1
        self._by_owner[owner] = self._by_owner.get(owner, 0) + 1
        run = _Run(recipe, owner, asyncio.get_running_loop().create_future(), on_progress)
        run.on_dispatch, run.cap = on_dispatch, cap
        self._queues.setdefault(owner, collections.deque()).append(run)
        self._dispatch()
        return run

    async def wait(self, run: Submitted) -> T:
        """A submitted run's answer (what run() says); if the awaiting task is cancelled, the
        worker is told to stop."""
        try:
            result: T = await run.done
            return result
        except asyncio.CancelledError:
            self._abandon(run)
            raise

    def abandon(self, run: Submitted) -> None:
        """Give up a submitted run: it leaves the queue, or its worker is told to stop; a
        no-op once it ended."""
        self._abandon(run)

    def _dispatch(self) -> None:
        """Hand queued runs to idle, ready workers."""
        for worker in self._workers:
            if not self._queues:
                return
            if worker.ready and worker.run is None:
                self._begin(worker, self._next())

    def _next(self) -> _Run:
        """The first waiting run of the client that got a worker longest ago (or never)."""
        owner = min(self._queues, key=lambda o: self._served.get(o, -1))
        queue = self._queues[owner]
        run = queue.popleft()
        if not queue:
            del self._queues[owner]
        self._dispatches += 1
        self._served[owner] = self._dispatches
        return run

    def _unqueue(self, run: _Run) -> bool:
        """Take a waiting run out of its client's queue; False if it was not waiting."""
        queue = self._queues.get(run.owner)
        if queue is None or run not in queue:
            return False
        queue.remove(run)
        if not queue:
            del self._queues[run.owner]
        return True

    def _begin(self, worker: _Worker, run: _Run) -> None:
        assert self._loop is not None
        cap = self.max_train_seconds if run.cap is None else run.cap[0]
        worker.run, run.worker = run, worker
        worker.cancel_flag.value = 0
        if run.on_dispatch is not None:  # before the send: the worker may finish before the
            run.on_dispatch()  # loop runs again (a preempted loop saw 0.4 ms of a 2.4 ms run)
        try:
            # Progress only for a caller that reads it: a message would wake the loop for nothing.
            worker.conn.send((run.recipe, cap, run.on_progress is not None))
        except OSError:
            self._lost(worker)
            return
        worker.timers.append(
            self._loop.call_later(cap + _CAP_GRACE_SECONDS, self._overdue, worker, run)
        )

    def _abandon(self, run: _Run) -> None:
        """The awaiting handler is gone: a queued run leaves the queue, a running one is told
        to stop and its worker is killed if it does not stop soon."""
        worker = run.worker
        if worker is None:
            if self._unqueue(run):
                self._release(run)
            return
        if worker.run is run:
            assert self._loop is not None
            worker.cancel_flag.value = 1
            worker.timers.append(
                self._loop.call_later(KILL_AFTER_SECONDS, self._kill_if_busy, worker, run)
            )

    def _finish(self, worker: _Worker, result: Any, error: BaseException | None) -> None:
        """The worker's run ended: answer it, free the worker, start the next."""
        run = worker.run
        worker.run = None
        worker.stop_timers()
        if run is not None:
            run.settle(result, error)
            self._release(run)
        self._dispatch()

    def _release(self, run: _Run) -> None:
        self._in_flight -= 1
        left = self._by_owner[run.owner] - 1
        if left:
            self._by_owner[run.owner] = left
        else:
            del self._by_owner[run.owner]
            self._served.pop(run.owner, None)

    # -- what the workers say ---------------------------------------------------------

    def _on_message(self, worker: _Worker) -> None:
        """The loop saw the worker's pipe readable: a message, or EOF if it died."""
        try:
            kind, *payload = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        if kind == "ready":
            worker.ready = True
            if self._warm is not None and all(w.ready for w in self._workers):
                self._warm.set()
            self._dispatch()
        elif worker.run is None:  # the answer of a run already settled (killed, overdue)
            return
        elif kind == "progress":
            if worker.run.on_progress is not None and not worker.run.done.done():
                worker.run.on_progress(payload[0])
        elif kind == "done":
            self._finish(worker, payload[0], None)
        elif kind == "cancelled":
            self._finish(worker, None, Cancelled(payload[0]))
        else:
            log.error("training failed in a worker:\n%s", payload[0])
            self._finish(worker, None, RuntimeError("training failed in a worker"))

    def _lost(self, worker: _Worker) -> None:
        """The worker died: its run (if any) is told to retry, and another worker starts."""
        if worker.ready:
            log.error("training worker %d died; restarting it", worker.index)
            self._replace(worker)
        else:  # died while starting: try again later rather than spin
            log.error("training worker %d did not start; retrying", worker.index)
            self._replace(worker, delay=_RESTART_DELAY_SECONDS)
        self._finish(worker, None, Unavailable("the training worker stopped unexpectedly; retry"))

    def _kill_if_busy(self, worker: _Worker, run: _Run) -> None:
        if worker.run is run:
            self._replace(worker)
            self._finish(worker, None, Cancelled("training cancelled mid-step"))

    def _overdue(self, worker: _Worker, run: _Run) -> None:
        if worker.run is run:
            self._replace(worker)
            cap, flag = run.cap or (self.max_train_seconds, "--max-train-seconds")
            self._finish(
                worker,
                None,
                DeadlineExceeded(
                    f"training passed the cap {flag} {cap:g} inside one "
                    "step, so it has nothing to hand back; use a smaller recipe"
                ),
            )

    # -- processes --------------------------------------------------------------------

    def _spawn(self, index: int) -> _Worker:
        assert self._loop is not None
        parent, child = self.ctx.Pipe()
        cancel_flag = self.ctx.Value("b", 0, lock=False)
        process = self.ctx.Process(
            target=_worker_main,
            args=(child, cancel_flag, self.finish),
            name=f"gatenet-worker-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(index, process, parent, cancel_flag)
        self._loop.add_reader(parent.fileno(), self._on_message, worker)
        return worker

    def _replace(self, worker: _Worker, delay: float = 0.0) -> None:
        """Kill the worker and start another in its place; it warms up while runs wait."""
        self._stop(worker)
        worker.ready = False
        if self.closing:
            return
        if delay:
            assert self._loop is not None
            self._loop.call_later(delay, self._respawn, worker.index)
        else:
            self._respawn(worker.index)

    def _respawn(self, index: int) -> None:
        if not self.closing:
            self._workers[index] = self._spawn(index)

    def _stop(self, worker: _Worker) -> None:
        assert self._loop is not None
        self._loop.remove_reader(worker.conn.fileno())
        try:
            worker.process.kill()
            worker.process.join(1)
        except Exception:  # noqa: BLE001 - already gone
            pass
        worker.conn.close()

    # -- shutting down ----------------------------------------------------------------

    async def drain(self) -> None:
        """Take no more runs; those still queued are refused now with UNAVAILABLE (a client
        retries them elsewhere) while the running ones finish."""
        self.closing = True
        queued = [run for queue in self._queues.values() for run in queue]
        self._queues.clear()
        for run in queued:
            run.settle(None, Draining("the server is shutting down; retry on another replica"))
            self._release(run)

    async def close(self) -> None:
        """Stop the workers; a run still going is cancelled."""
        await self.drain()
        assert self._loop is not None
        for worker in self._workers:
            if worker.conn.closed:
                continue
            self._loop.remove_reader(worker.conn.fileno())
            worker.stop_timers()
            try:
                worker.cancel_flag.value = 1
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            if worker.ready:  # it reads the None and returns; one still warming is killed
                await asyncio.to_thread(worker.process.join, 2)
            if worker.process.is_alive():
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, 2)
            if not worker.conn.closed:
                worker.conn.close()
