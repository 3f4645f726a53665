"""The drain's last step: calls are refused until none has come for a moment, then the port
may close (closing it while calls still arrive makes gRPC core cancel them)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gatenet.server.errors import Unavailable
from gatenet.server.rpc.drain import Drain


def test_refusing_lasts_while_calls_keep_coming_and_ends_after_a_quiet_gap():
    async def run() -> tuple[float, float, int]:
        drain = Drain()
        refusing = asyncio.ensure_future(drain.refuse_calls(quiet=0.25, longest=30))
        began, refused = time.monotonic(), 0
        while time.monotonic() - began < 0.6:  # a client calling every 20 ms, never backing off
            await asyncio.sleep(0.02)
            with pytest.raises(Unavailable, match="shutting down"):
                drain.admit()
            refused += 1
            assert not refusing.done()
        last_call = time.monotonic()
        await asyncio.wait_for(refusing, 10)
        return time.monotonic() - began, time.monotonic() - last_call, refused

    took, after_last_call, refused = asyncio.run(run())
    assert refused > 5 and took >= 0.6 + 0.25
    assert 0.24 <= after_last_call < 5


def test_refusing_ends_after_the_longest_wait_even_if_calls_keep_coming():
    async def run() -> float:
        drain = Drain()
        refusing = asyncio.ensure_future(drain.refuse_calls(quiet=0.2, longest=0.3))
        began = time.monotonic()
        await asyncio.sleep(0)  # refusing from here on
        while not refusing.done():
            with pytest.raises(Unavailable):
                drain.admit()
            await asyncio.sleep(0.01)
        return time.monotonic() - began

    assert 0.29 <= asyncio.run(run()) < 5
