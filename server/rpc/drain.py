"""What the handler wrapper does during a drain: end open write-streams, refuse late calls.

Two things grpc.aio does not do by itself. A handler task it cancels ends without a
status, so a cancelled Health.Watch stayed open for its client until the server stopped
(the whole grace). And gRPC core cancels the calls that reached it but no handler yet when
the server stops taking calls (grpc/grpc#41785): a client sees CANCELLED, which it does not
retry. So once the drain delay is over, new calls are answered UNAVAILABLE until none has
come for a moment, and only then does the port close: clients retry idempotent calls after
a backoff, by when the port is closed and they dial another replica; the calls queued in
gRPC have been answered by then. A call sent in the very instant the port closes can still
meet gRPC's CANCELLED; gatenet's client reads that as UNAVAILABLE (client/errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import grpc

from gatenet.server.errors import Unavailable

SHUTTING_DOWN = "the server is shutting down; retry on another replica"


class WriteStream:
    """The context of a handler that streams through context.write, endable between writes."""

    def __init__(self, context: grpc.aio.ServicerContext, last_write: bool) -> None:
        self._context = context
        self._task = asyncio.current_task()
        self._writing: asyncio.Future[None] | None = None
        self._last_write = last_write  # opened during a drain: ends after its first message
        self.ended = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def write(self, message: Any) -> None:
        """context.write, shielded: a stream ended mid-write still sends the message whole."""
        self._writing = asyncio.ensure_future(self._context.write(message))
        self._writing.add_done_callback(_retrieve)  # its error is the call's, seen elsewhere
        await asyncio.shield(self._writing)
        if self._last_write:
            self.end()

    def end(self) -> None:
        """Stop the handler; the wrapper answers UNAVAILABLE once the last write is out."""
        if self._task is not None:
            self.ended = True
            self._task.cancel()

    async def flushed(self) -> None:
        """Wait for a write still going out."""
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing


def _retrieve(write: asyncio.Future[None]) -> None:
    if not write.cancelled():
        write.exception()


class Drain:
    """The drain state the wrapper consults on every call; the server's stop() drives it."""

    def __init__(self) -> None:
        self.refusing = False
        self._last_refused = 0.0  # time.monotonic() of the last call refused
        self._ending = False
        self._streams: set[WriteStream] = set()

    def admit(self) -> None:
        """Raise UNAVAILABLE for a new call once calls are refused."""
        if self.refusing:
            self._last_refused = time.monotonic()
            raise Unavailable(SHUTTING_DOWN)

    def open_stream(self, context: grpc.aio.ServicerContext) -> WriteStream:
        """Track a write-stream so the drain can end it."""
        stream = WriteStream(context, last_write=self._ending)
        self._streams.add(stream)
        return stream

    def close_stream(self, stream: WriteStream) -> None:
        self._streams.discard(stream)

    async def end_streams(self) -> None:
        """End every open write-stream (Health.Watch): at the start of a drain its watchers
        have been told NOT_SERVING and must move on, not hold the exit."""
        # One turn of the loop: the watchers woken by the status change start writing it (a
        # watcher ended before its turn still gets UNAVAILABLE, which says as much).
        await asyncio.sleep(0)
        self._ending = True  # and a stream opened from now on ends after its first message
        for stream in list(self._streams):
            stream.end()

    async def refuse_calls(self, quiet: float, longest: float) -> None:
        """Answer new calls UNAVAILABLE from now on, and return once none has come for `quiet`
        seconds (or after `longest`): by then the calls queued in gRPC have been answered and
        their clients are backing off, so none is on its way as the port closes."""
        self.refusing = True
        began = self._last_refused = time.monotonic()
        while True:
            now = time.monotonic()
            wait = min(self._last_refused + quiet, began + longest) - now
            if wait <= 0:
                return
            await asyncio.sleep(wait)
