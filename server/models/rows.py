"""A Predict's rows, checked before a forward: their count against the model and the limit,
the work they ask for, and (on the way into the forward) that every value is finite.

Rows are little-endian float32 bytes, row after row, as every transport hands them
over; errors name the request field and the bound.
"""

from __future__ import annotations

import math
import sys
from array import array

import numpy as np

from gatenet.server.errors import InvalidArgument

_F4, _U4 = np.dtype("<f4"), np.dtype("<u4")
_INF_BITS = 0x7F800000  # inf's bits; a nan's (sign cleared) are larger
_BIG_ENDIAN = sys.byteorder == "big"  # the wire's floats are little-endian
_SMALL = 16  # up to this many values, a Python sum checks finiteness quicker than numpy
_MEDIUM = 1 << 16  # up to this many, one integer pass; beyond, a sum (no big copy)

Rows = bytes | memoryview  # little-endian float32 values, row after row


def aligned(rows: Rows, dtype: np.dtype) -> np.ndarray:
    """The rows as a 1-d array of `dtype`, copied when their bytes are not aligned to it.

    A request's packed floats sit where its message put them (byte 37 of a 1024-row
    Predict): numpy runs ufuncs on an unaligned array through small aligned copies,
    and matmul without BLAS. One copy up front is cheaper than one per step.
    """
    array = np.frombuffer(rows, dtype=dtype)
    return array if array.flags.aligned else array.copy()


def count_rows(inputs: Rows, num_features: int, model_inputs: int, max_rows: int) -> int:
    """The number of rows, once they fit the model and the limit (values not looked at)."""
    size = len(inputs)
    if size == 0:
        raise InvalidArgument("inputs", "is empty; send at least one row")
    if size % 4:
        raise InvalidArgument("inputs", f"{size} bytes is not a whole number of packed float32s")
    if num_features and num_features != model_inputs:
        raise InvalidArgument(
            "num_features", f"{num_features} does not match the model's {model_inputs} inputs"
        )
    count = size // 4
    if count % model_inputs:
        raise InvalidArgument(
            "inputs",
            f"{count} values is not a multiple of the model's {model_inputs} inputs per row",
        )
    rows = count // model_inputs
    if rows > max_rows:
        raise InvalidArgument(
            "inputs", f"{rows} rows exceeds the limit {max_rows} (--max-predict-rows)"
        )
    return rows


def check_work(field: str, rows: int, work: int, max_work: int) -> None:
    """InvalidArgument naming `field` when `rows` rows of `work` multiply-adds each exceed the
    bound on one Predict's forward pass."""
    if rows * work > max_work:
        raise InvalidArgument(
            field,
            f"{rows} rows x {work} multiply-adds per row = {rows * work} exceeds the limit "
            f"{max_work} (--max-predict-work); send at most {max_work // work} rows of this "
            "model per call",
        )


def check_finite(inputs: Rows, columns: int) -> float:
    """The largest magnitude among the values (inf when too many to look for it); InvalidArgument
    naming the row and column of the first value that is NaN or infinite (rows of `columns`)."""
    if len(inputs) <= 4 * _SMALL:
        values = array("f")
        values.frombytes(inputs)  # array("f", view) would read a memoryview's bytes as ints
        if _BIG_ENDIAN:
            values.byteswap()
        # A float64 sum of float32 values cannot overflow: finite iff every value is.
        if not math.isfinite(sum(values)):
            raise _not_finite(values, columns)
        return max(map(abs, values), default=0.0)
    if len(inputs) <= 4 * _MEDIUM:
        x = aligned(inputs, _F4)
        # Magnitudes as bits (sign cleared) order as the floats do, and nan and inf have the
        # largest: one integer pass finds both, with no floating-point flag to warn about.
        top = np.maximum.reduce(x.view(_U4) & 0x7FFFFFFF)
        if top >= _INF_BITS:
            raise _not_finite(x, columns)
        return float(top.view(_F4))
    x = np.frombuffer(inputs, dtype=_F4)
    # A float32 sum is finite when every value is, unless finite values overflow it:
    # then (and only then) look at each value. No mask as big as the rows.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(x)
    if not math.isfinite(total) and not np.isfinite(x).all():
        raise _not_finite(x, columns)
    return math.inf


def _not_finite(values: array[float] | np.ndarray, columns: int) -> InvalidArgument:
    bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
    row, column = divmod(bad, max(columns, 1))
    return InvalidArgument(
        "inputs", f"row {row}, column {column} is {float(values[bad])}; inputs must be finite"
    )
