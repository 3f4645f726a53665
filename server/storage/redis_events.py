"""Invalidation events over Redis pub/sub: a subscription that outlives Redis restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress

import redis.asyncio as aioredis
from redis.exceptions import RedisError

RECONNECT_DELAY = 0.25  # seconds between resubscribe attempts while Redis is down


async def deleted_ids(
    client: aioredis.Redis, channel: str, closed: asyncio.Event
) -> AsyncIterator[str]:
    """Each id published on channel, until closed is set; reconnects while Redis is away.

    Ids published while disconnected are lost (pub/sub keeps no history), and a
    connection that dies silently (no RST) stays subscribed until TCP keepalive notices.
    """
    stop = asyncio.ensure_future(closed.wait())
    try:
        while not stop.done():
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                while True:
                    message = asyncio.ensure_future(pubsub.get_message(timeout=None))
                    await asyncio.wait({message, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop.done():
                        message.cancel()
                        with suppress(asyncio.CancelledError, RedisError, OSError):
                            await message
                        return
                    got = message.result()
                    if got is not None and got.get("type") == "message":
                        yield got["data"].decode()
            except (RedisError, OSError):
                pass  # Redis went away: resubscribe below once it answers again
            finally:
                with suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.wait({stop}, timeout=RECONNECT_DELAY)
    finally:
        stop.cancel()
