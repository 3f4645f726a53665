"""One thread for the CPU-heavy encoding and decoding of large messages and records.

json_format and json spend about a microsecond a value in Python, so a spec of 4,096 x 64
examples costs ~0.7 s to describe and ~0.2 s to read back: on the event loop that stalls
every call. Done here, the loop keeps serving: while this thread runs Python, the loop gets
the GIL back within the interpreter's switch interval (5 ms). One thread, not a pool: the
GIL lets only one of them run anyway, and each extra contender lengthens the loop's wait.
A C call holds the GIL to its end, so work sent here keeps its C calls short
(json_text.py writes long JSON arrays a slice at a time).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# From this many values (floats, ints), or bytes of JSON text, work goes to the thread; below,
# it takes a few milliseconds at most and the hop (~0.1 ms) would add to every small call.
LARGE_VALUES = 4096
LARGE_BYTES = 64 * 1024

_executor = ThreadPoolExecutor(1, thread_name_prefix="gatenet-codec")
# While the codec thread runs Python, the loop waits up to this long each time it wants the GIL
# back, and it wants it back after every call that releases it (a pipe write, a socket read):
# 1 ms instead of CPython's 5 ms keeps the loop's lag under 20 ms during 8 large Trains.
SWITCH_INTERVAL = 0.001


def prefer_the_loop() -> None:
    """Shorten the interpreter's GIL switch interval (process-wide) to SWITCH_INTERVAL."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))


async def run(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on the codec thread, awaited."""
    return await asyncio.get_running_loop().run_in_executor(_executor, fn, *args)


async def run_if(large: bool, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on the codec thread when `large`, else right here."""
    return await run(fn, *args) if large else fn(*args)
