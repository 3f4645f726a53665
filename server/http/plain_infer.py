"""The common V2 REST infer body, read in one pass: `{"inputs": [{"name": "inputs",
"datatype": "FP32", "shape": [rows, n], "data": [...]}]}` (and maybe a string `id`).

A 1-row call spent more time in infer_json's field-by-field checks (a dozen helper calls,
three numpy calls on two values) than in aiohttp. This path takes only a body those checks
would accept and read the same way, to the same bytes; for anything else it answers None
and infer_json.decode reads the body again, with the checks that name what is wrong.
"""

from __future__ import annotations

import sys
from array import array
from itertools import chain
from typing import Any

import numpy as np

from gatenet.server.rpc.infer_codec import INPUT

_F4 = np.dtype("<f4")
_F4_MAX = float(np.finfo(np.float32).max)
_TENSOR_KEYS = frozenset({"name", "datatype", "shape", "data"})
_FLOATS = frozenset({float})
_NUMBERS = frozenset({float, int})  # bool is a type of its own here: not taken
_EXACT = 2**53  # integers a float64 holds exactly (so one rounding to float32, as numpy's)
_SMALL = 64  # values checked in Python below this; numpy's fixed cost is higher there
_INT64_MAX = 2**63 - 1
_NATIVE_F4 = sys.byteorder == "little" and array("f").itemsize == 4  # array("f") is <f4


def plain(request: dict[str, Any]) -> tuple[str, list[int], bytes] | None:
    """The request's id, shape and float32 values when it is the common body; else None."""
    request_id = request.get("id", "")
    if type(request_id) is not str or len(request) != 1 + ("id" in request):
        return None
    inputs = request.get("inputs")
    if type(inputs) is not list or len(inputs) != 1:
        return None
    tensor = inputs[0]
    if (
        type(tensor) is not dict
        or tensor.keys() != _TENSOR_KEYS
        or tensor["name"] != INPUT
        or tensor["datatype"] != "FP32"
    ):
        return None
    shape, data = tensor["shape"], tensor["data"]
    if type(shape) is not list or len(shape) != 2 or type(data) is not list:
        return None
    rows, columns = shape
    if (
        type(rows) is not int
        or type(columns) is not int
        or not 0 <= rows <= _INT64_MAX
        or not 0 <= columns <= _INT64_MAX
    ):
        return None
    raw = _fp32(data, rows * columns)
    return None if raw is None else (request_id, shape, raw)


def _fp32(data: list[Any], expected: int) -> bytes | None:
    """`data` (flat, or nested in row-major order) as little-endian float32 bytes, when it
    holds `expected` numbers within FP32's range; else None."""
    try:
        while data and type(data[0]) is list:
            data = list(chain.from_iterable(data))
    except TypeError:  # a value beside lists
        return None
    if len(data) != expected or not data:
        return None
    if expected < _SMALL and _NATIVE_F4:
        kinds = set(map(type, data))
        if not kinds <= _FLOATS and (
            not kinds <= _NUMBERS or not all(-_EXACT <= v <= _EXACT for v in data)
        ):
            return None
        if max(data) > _F4_MAX or min(data) < -_F4_MAX:
            return None
        return array("f", data).tobytes()
    if _NATIVE_F4:
        # One C pass (numpy's own reading of a list looks at each value's type first, then
        # converts it: ~1.5x the time); what it cannot read is not a number.
        try:
            doubles = np.frombuffer(array("d", data), dtype=np.float64)
        except (TypeError, OverflowError):
            return None
        if type(data[0]) is bool and all(type(v) is bool for v in data):
            return None  # true/false alone (numpy reads them among numbers as 1 and 0)
        top = np.maximum.reduce(np.abs(doubles))
        if top > _F4_MAX:
            return None
        if top <= _EXACT:  # past it, an integer rounds once in numpy's reading: below
            return doubles.astype(_F4).tobytes()
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = values.dtype.kind
    if values.ndim != 1 or kind not in "fiu":
        return None
    if kind == "f" and (
        np.maximum.reduce(values) > _F4_MAX or np.minimum.reduce(values) < -_F4_MAX
    ):
        return None
    return values.astype(_F4).tobytes()
