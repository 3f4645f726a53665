"""Invalidation events over a Redis stream: each replica reads on from its last seen entry.

Pub/sub forgets what it published while a replica was resubscribing; a stream keeps
it, so after a blip a replica reads every delete it missed. When its position is gone
(trimmed away while it was behind, or Redis lost its data) it cannot know what it
missed, and yields FORGET_ALL: drop every cached model, each reloads from the store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from .protocol import FORGET_ALL

EPOCH = "gatenet:epoch"  # set once per Redis dataset: a new value means the data was lost
RECONNECT_DELAY = 0.25  # seconds between attempts while Redis is down
BLOCK_MS = 1000  # one XREAD waits this long, well inside the client's socket timeout
COUNT = 1000  # entries one XREAD returns at most


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamPosition:
    """Where this process is in the stream, and which Redis dataset that position belongs to."""

    def __init__(self) -> None:
        self.last = "0-0"  # the last entry applied
        self.seen = 0  # how many entries the stream had gained up to and with it
        self.epoch = ""

    async def start(self, client: aioredis.Redis, stream: str) -> None:
        """Take the stream's current end as the position (deletes before it are moot)."""
        await client.set(EPOCH, uuid.uuid4().hex, nx=True)
        self.epoch = _text(await client.get(EPOCH) or b"")
        info = await _info(client, stream)
        self.last = _text(info["last-generated-id"]) if info else "0-0"
        self.seen = _added(info)

    async def lost(self, client: aioredis.Redis, stream: str) -> bool:
        """True if entries after the position may be gone; the position is then moved on."""
        epoch = await client.get(EPOCH)
        info = await _info(client, stream)
        # Trimming removes the oldest entries; once more are gone than we had seen, some
        # we had not read went with them.
        trimmed = info is not None and _added(info) - int(info["length"]) > self.seen
        if epoch is None or _text(epoch) != self.epoch or trimmed:
            await self.start(client, stream)
            return True
        return False


async def _info(client: aioredis.Redis, stream: str) -> dict[str, Any] | None:
    """XINFO STREAM with text keys, None if the stream does not exist yet."""
    try:
        info: Any = await client.xinfo_stream(stream)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return None
        raise
    return {_text(key): value for key, value in info.items()}


def _added(info: dict[str, Any] | None) -> int:
    """Entries the stream ever gained (Redis 7+); before 7 this cannot be told: 0, never lost."""
    if not info or "entries-added" not in info:
        return 0
    return int(info["entries-added"])


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """The (id, fields) entries of one stream's XREAD reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for entries in reply.values() for entry in entries[0]]
    return [entry for _, entries in reply for entry in entries]


async def deleted_ids(
    client: aioredis.Redis, stream: str, position: StreamPosition, closed: asyncio.Event
) -> AsyncIterator[str]:
    """Each deleted id after position, or FORGET_ALL, until closed is set; outlives Redis."""
    stop = asyncio.ensure_future(closed.wait())
    check = False  # after an outage: was the position lost meanwhile?
    try:
        while not stop.done():
            try:
                if check:
                    check = False
                    if await position.lost(client, stream):
                        yield FORGET_ALL
                read = asyncio.ensure_future(
                    client.xread({stream: position.last}, count=COUNT, block=BLOCK_MS)
                )
                await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop.done():
                    read.cancel()
                    with suppress(asyncio.CancelledError, RedisError, OSError):
                        await read
                    return
                entries = _entries(read.result())
                if entries and await position.lost(client, stream):
                    yield FORGET_ALL  # trimmed past us while we were behind
                    continue
                for entry_id, fields in entries:
                    position.last = _text(entry_id)
                    position.seen += 1
                    model_id = fields.get(b"id") or fields.get("id")
                    if model_id:
                        yield _text(model_id)
            except (RedisError, OSError):
                check = True  # Redis went away: read on from the position once it answers
                await asyncio.wait({stop}, timeout=RECONNECT_DELAY)
    finally:
        stop.cancel()
