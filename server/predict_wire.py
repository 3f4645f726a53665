"""Predict's request and response as wire bytes: rows in, results out, no float object each.

A 1024-row PredictRequest parsed the usual way turns its packed floats into a
repeated field that numpy then reads one Python float at a time; built the usual
way, a PredictResponse is parsed from our bytes and serialized again by gRPC.
Predict is registered with neither (de)serializer instead: the request is parsed
as PredictRequestWire, whose `inputs` are the packed floats as they arrived, and
the response is written here as the bytes gRPC sends.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from gatenet.server.errors import InvalidArgument
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1.predict_wire_pb2 import PredictRequestWire


class PredictInput(NamedTuple):
    """A PredictRequest with its rows as packed little-endian float32 bytes."""

    model: str
    inputs: bytes
    num_features: int


def _varint(n: int) -> bytes:
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


def parse_request(raw: bytes) -> PredictInput:
    """The request's fields, its rows as bytes; InvalidArgument when it is not a PredictRequest."""
    try:
        wire = PredictRequestWire.FromString(raw)
    except DecodeError:
        return _parse_slowly(raw)
    model, inputs, num_features = wire.model, wire.inputs, wire.num_features
    # The canonical encoding of exactly these three values has this size; any other bytes
    # (rows sent unpacked or in several chunks, unknown fields) make the request longer.
    canonical = (
        _field_size(len(model.encode()))
        + _field_size(len(inputs))
        + (1 + _varint_size(num_features) if num_features else 0)
    )
    if len(raw) != canonical:
        return _parse_slowly(raw)
    return PredictInput(model, inputs, num_features)


def _parse_slowly(raw: bytes) -> PredictInput:
    """Any valid encoding, through the real PredictRequest."""
    try:
        request = pb.PredictRequest.FromString(raw)
    except DecodeError as exc:
        raise InvalidArgument("request", f"is not a valid PredictRequest ({exc})") from None
    inputs = np.asarray(request.inputs, dtype="<f4").tobytes()
    return PredictInput(request.model, inputs, request.num_features)


def _packed_tag(field: str) -> bytes:
    number = pb.PredictResponse.DESCRIPTOR.fields_by_name[field].number
    return _varint(number << 3 | 2)  # wire type 2: length-delimited


_MODEL_ID = _packed_tag("model_id")
_PROBABILITIES = _packed_tag("probabilities")
_LABELS = _packed_tag("labels")
_SHORT = [bytes((n,)) for n in range(128)]  # one-byte varints, the small-batch case


def encode_response(
    model_id: str, probabilities: bytes | np.ndarray, labels: bytes | np.ndarray, rows: int
) -> bytes:
    """A serialized PredictResponse from `rows` little-endian float32 probabilities and `rows`
    0/1 label bytes, as bytes or contiguous arrays (joined through the buffer protocol)."""
    # A 0/1 uint32 varint is that one byte, so labels go in as they are.
    mid = model_id.encode()
    n, m = 4 * rows, rows
    return b"".join(
        (
            _MODEL_ID,
            _SHORT[len(mid)] if len(mid) < 128 else _varint(len(mid)),
            mid,
            _PROBABILITIES,
            _SHORT[n] if n < 128 else _varint(n),
            probabilities,
            _LABELS,
            _SHORT[m] if m < 128 else _varint(m),
            labels,
        )
    )
