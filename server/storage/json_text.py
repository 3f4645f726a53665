"""json.dumps for documents with long arrays, written a slice at a time.

json's C encoder holds the GIL for a whole call: a stored spec of 4,096 x 64 example values
takes ~70 ms, and meanwhile the event loop cannot run even though the call is on another
thread. Written in slices of SLICE values, no C call lasts more than about a millisecond.
The text is exactly what json.dumps(obj, separators=(",", ":"), allow_nan=...) writes.
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


def _plain(obj: Any, allow_nan: bool) -> str:
    return json.dumps(obj, allow_nan=allow_nan, separators=(",", ":"))


def _values(obj: Any, limit: int) -> int:
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
        total += 1 if isinstance(item, _SCALARS) else _values(item, limit - total)
        if total > limit:
            break
    return total


def _write(obj: Any, out: list[str], allow_nan: bool) -> None:
    if _values(obj, SLICE) <= SLICE:
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
            n = 1 if isinstance(item, _SCALARS) else _values(item, SLICE)
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
