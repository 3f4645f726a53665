"""Predict on the wire: the request's rows as the bytes that arrived, checked; the response's
bytes written once.

Parsed the usual way, a 1024-row PredictRequest turns its packed floats into one
Python float each, and a built PredictResponse is serialized again by gRPC.
Predict is registered with neither (de)serializer instead: the request is parsed
as PredictRequestWire, whose `inputs` are the packed floats as they arrived, and
the response is written here as the bytes gRPC sends.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from gatenet.server.errors import InvalidArgument
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1.predict_wire_pb2 import PredictRequestWire

_F4 = np.dtype("<f4")
_BIG_ENDIAN = sys.byteorder == "big"  # the wire's floats are little-endian
_SMALL = 16  # up to this many values, a Python sum checks finiteness quicker than numpy


class PredictCall(NamedTuple):
    """A PredictRequest with its rows as packed little-endian float32 bytes."""

    model: str
    inputs: bytes
    num_features: int


def varint(n: int) -> bytes:
    """n as a protobuf varint."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _varint_size(n: int) -> int:
    return (n.bit_length() + 6) // 7 or 1


def _field_size(length: int) -> int:
    """Bytes of a length-delimited field with a one-byte tag and `length` bytes of payload."""
    return 1 + _varint_size(length) + length if length else 0


def decode(raw: bytes) -> PredictCall:
    """The request's fields, its rows as bytes; InvalidArgument when it is not a PredictRequest."""
    try:
        wire = PredictRequestWire.FromString(raw)
    except DecodeError:
        return _decode_slowly(raw)
    model, inputs, num_features = wire.model, wire.inputs, wire.num_features
    # The canonical encoding of exactly these three values has this size; any other bytes
    # (rows sent unpacked or in several chunks, unknown fields) make the request longer.
    canonical = (
        _field_size(len(model.encode()))
        + _field_size(len(inputs))
        + (1 + _varint_size(num_features) if num_features else 0)
    )
    if len(raw) != canonical:
        return _decode_slowly(raw)
    return PredictCall(model, inputs, num_features)


def _decode_slowly(raw: bytes) -> PredictCall:
    """Any valid encoding, through the real PredictRequest."""
    try:
        request = pb.PredictRequest.FromString(raw)
    except DecodeError:
        raise InvalidArgument("request", "body is not a valid gatenet.v1.PredictRequest") from None
    inputs = np.asarray(request.inputs, dtype=_F4).tobytes()
    return PredictCall(request.model, inputs, request.num_features)


def check_rows(call: PredictCall, model_inputs: int, max_rows: int) -> int:
    """The number of rows, once they fit the model, the limit and are finite."""
    size = len(call.inputs)
    if size == 0:
        raise InvalidArgument("inputs", "is empty; send at least one row")
    if size % 4:
        raise InvalidArgument("inputs", f"{size} bytes is not a whole number of packed float32s")
    if call.num_features and call.num_features != model_inputs:
        raise InvalidArgument(
            "num_features", f"{call.num_features} does not match the model's {model_inputs} inputs"
        )
    count = size // 4
    if count % model_inputs:
        raise InvalidArgument(
            "inputs",
            f"{count} values is not a multiple of the model's {model_inputs} inputs per row",
        )
    rows = count // model_inputs
    if rows > max_rows:
        raise InvalidArgument("inputs", f"{rows} rows exceeds the limit {max_rows}")
    if count <= _SMALL:
        values = array("f", call.inputs)
        if _BIG_ENDIAN:
            values.byteswap()
        # A float64 sum of float32 values cannot overflow: finite iff every value is.
        if not math.isfinite(sum(values)):
            raise _not_finite(values)
    else:
        x = np.frombuffer(call.inputs, dtype=_F4)
        # A float32 sum is finite when every value is, unless finite values overflow it:
        # then (and only then) look at each value.
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduce(x)
        if not math.isfinite(total) and not np.isfinite(x).all():
            raise _not_finite(x)
    return rows


def _not_finite(values: array[float] | np.ndarray) -> InvalidArgument:
    bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
    return InvalidArgument("inputs", f"value {bad} is {float(values[bad])}; inputs must be finite")


def _packed_tag(field: str) -> bytes:
    number = pb.PredictResponse.DESCRIPTOR.fields_by_name[field].number
    return varint(number << 3 | 2)  # wire type 2: length-delimited


_MODEL_ID = _packed_tag("model_id")
_PROBABILITIES = _packed_tag("probabilities")
_LABELS = _packed_tag("labels")
_SHORT = [bytes((n,)) for n in range(128)]  # one-byte varints, the small-batch case


def encode(model_id: str, probabilities: np.ndarray, labels: np.ndarray) -> bytes:
    """A serialized PredictResponse from little-endian float32 probabilities and 0/1 label
    bytes (contiguous arrays, joined through the buffer protocol)."""
    # A 0/1 uint32 varint is that one byte, so labels go in as they are.
    mid = model_id.encode()
    m = len(labels)
    n = 4 * m
    return b"".join(
        (
            _MODEL_ID,
            _SHORT[len(mid)] if len(mid) < 128 else varint(len(mid)),
            mid,
            _PROBABILITIES,
            _SHORT[n] if n < 128 else varint(n),
            probabilities.data,
            _LABELS,
            _SHORT[m] if m < 128 else varint(m),
            labels.data,
        )
    )
