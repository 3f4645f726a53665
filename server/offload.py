"""One thread for the CPU-heavy encoding and decoding of large messages and records.

json_format and json spend about a microsecond a value in Python, so a spec of 4,096 x 64
examples costs ~0.7 s to describe and ~0.2 s to read back: on the event loop that stalls
every call. Done here, the loop keeps serving: while this thread runs Python, the loop gets
the GIL back within the interpreter's switch interval (5 ms). One thread, not a pool: the
GIL lets only one of them run anyway, and each extra contender lengthens the loop's wait.
A C call holds the GIL to its end, so work sent here keeps its C calls short
(storage/json_text.py writes long JSON arrays a slice at a time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# From this many values (floats, ints), or bytes of JSON text, work goes to the thread; below,
# it takes a few milliseconds at most and the hop (~0.1 ms) would add to every small call.
LARGE_VALUES = 4096
LARGE_BYTES = 64 * 1024

_executor = ThreadPoolExecutor(1, thread_name_prefix="gatenet-codec")


async def run(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on the codec thread, awaited."""
    return await asyncio.get_running_loop().run_in_executor(_executor, fn, *args)


async def run_if(large: bool, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on the codec thread when `large`, else right here."""
    return await run(fn, *args) if large else fn(*args)
