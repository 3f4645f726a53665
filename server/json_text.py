"""JSON for documents with long arrays, written and read without holding the GIL for long.

json's C encoder and decoder hold the GIL for a whole call: a stored spec of 4,096 x 64
example values takes ~70 ms to write, a 21 MB weights file ~350 ms to read, and meanwhile the
event loop cannot run even though the call is on another thread. dumps writes long arrays in
slices of SLICE values, so no C call lasts more than about a millisecond; its text is exactly
what json.dumps(obj, separators=(",", ":"), allow_nan=...) writes. decoder() makes each number
through a Python function, where the interpreter can switch threads (~5% slower); the values
are what json.loads makes.
"""

from __future__ import annotations

import json
from typing import Any

SLICE = 4096  # values per json.dumps call (~1 ms)
_SCALARS = (str, int, float, bool, type(None))


def dumps(obj: Any, *, allow_nan: bool = True) -> str:
    """Compact JSON text of obj; TypeError or ValueError as json.dumps raises them."""
    out: list[str] = []
    _write(obj, out, allow_nan)
    return "".join(out)


def decoder(**options: Any) -> json.JSONDecoder:
    """A JSONDecoder that lets other threads run while it reads (options as JSONDecoder's)."""
    return json.JSONDecoder(parse_float=_float, parse_int=_int, **options)


def _float(text: str) -> float:
    return float(text)


def _int(text: str) -> int:
    return int(text)


def _plain(obj: Any, allow_nan: bool) -> str:
    return json.dumps(obj, allow_nan=allow_nan, separators=(",", ":"))


def values(obj: Any, limit: int) -> int:
    """How many values obj holds, counted only until the count passes limit."""
    if isinstance(obj, dict):
        items: Any = obj.values()
    elif isinstance(obj, list | tuple):
        items = obj
    else:
        return 1
    if len(items) > limit:
        return len(items)
    total = 0
    for item in items:
        total += 1 if isinstance(item, _SCALARS) else values(item, limit - total)
        if total > limit:
            break
    return total


def _write(obj: Any, out: list[str], allow_nan: bool) -> None:
    if values(obj, SLICE) <= SLICE:
        out.append(_plain(obj, allow_nan))
    elif isinstance(obj, dict):
        if not all(isinstance(key, str) for key in obj):  # json's own key coercion, then
            out.append(_plain(obj, allow_nan))
            return
        for i, (key, value) in enumerate(obj.items()):
            out.append(("," if i else "{") + _plain(key, allow_nan) + ":")
            _write(value, out, allow_nan)
        out.append("}")
    else:  # a long array: its items in runs of at most SLICE values, a big item on its own
        pieces: list[str] = []
        run: list[Any] = []
        count = 0
        for item in obj:
            n = 1 if isinstance(item, _SCALARS) else values(item, SLICE)
            if run and count + n > SLICE:
                pieces.append(_plain(run, allow_nan)[1:-1])
                run, count = [], 0
            if n > SLICE:
                inner: list[str] = []
                _write(item, inner, allow_nan)
                pieces.append("".join(inner))
            else:
                run.append(item)
                count += n
        if run:
            pieces.append(_plain(run, allow_nan)[1:-1])
        out.append("[" + ",".join(pieces) + "]")
