"""Predict on the wire: the request's rows as the bytes that arrived, checked; the response's
bytes written once.

Parsed the usual way, a 1024-row PredictRequest turns its packed floats into one
Python float each, and a built PredictResponse is serialized again by gRPC.
Predict is registered with neither (de)serializer instead: a request in the
canonical encoding (what every protobuf library writes) is read here, its rows a
view of the packed floats as they arrived; any other encoding goes through the
real PredictRequest. The response is written here as the bytes gRPC sends.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from gatenet.server.errors import InvalidArgument
from gatenet.server.models.rows import Rows
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary.wire import LENGTH, tag, varint

_F4 = np.dtype("<f4")
_MODEL_TAG, _INPUTS_TAG, _NUM_FEATURES_TAG = 0x0A, 0x12, 0x18  # fields 1, 2 (length-delimited), 3
_NO_ROWS = memoryview(b"")
_ALIGN_BYTES = 64 * 1024  # rows up to this size are copied to a 4-byte boundary (a few µs)


class PredictCall(NamedTuple):
    """A PredictRequest with its rows as packed little-endian float32 bytes."""

    model: str
    inputs: Rows
    num_features: int


# A NamedTuple's own constructor is a Python function: the hot path builds it in C.
_new_call = functools.partial(tuple.__new__, PredictCall)
# Responses repeat their few lengths: the vocabulary's varint writer, remembered.
_length_varint = functools.lru_cache(maxsize=1024)(varint)


def decode(raw: bytes) -> PredictCall:
    """The request's fields, its rows a view of `raw`; InvalidArgument when it is not a
    PredictRequest."""
    return _canonical(raw) or _decode_slowly(raw)


def _canonical(raw: bytes) -> PredictCall | None:
    """The fields when `raw` is their canonical encoding: each at most once, in field order,
    the rows packed in one piece. Big rows are not copied (a 4 MB copy held the loop ~0.6 ms);
    any other encoding gives None."""
    end = len(raw)
    pos, model, num_features = 0, "", 0
    inputs: Rows = _NO_ROWS
    # A one-byte length (under 128) is read in place: the common case, with no call.
    if end > 1 and raw[0] == _MODEL_TAG:
        size, pos = (raw[1], 2) if raw[1] < 0x80 else _read_varint(raw, 1)
        try:
            model = raw[pos : pos + size].decode()
        except UnicodeDecodeError:
            return None  # the real parser says what is wrong
        pos += size
    if pos + 1 < end and raw[pos] == _INPUTS_TAG:
        size, pos = (raw[pos + 1], pos + 2) if raw[pos + 1] < 0x80 else _read_varint(raw, pos + 1)
        # Floats off a 4-byte boundary (byte 37 of a 1024-row request) cost numpy a copy at
        # every step: a small body's are copied once here, a big one's on the forward's
        # thread (models/rows.py).
        if pos & 3 and size <= _ALIGN_BYTES:
            inputs = raw[pos : pos + size]
        else:
            inputs = memoryview(raw)[pos : pos + size]
        pos += size
    if pos + 1 < end and raw[pos] == _NUM_FEATURES_TAG:
        num_features, pos = (
            (raw[pos + 1], pos + 2) if raw[pos + 1] < 0x80 else _read_varint(raw, pos + 1)
        )
    if pos != end or num_features >> 32:
        return None  # more fields, a truncated one, or a varint beyond uint32
    return _new_call((model, inputs, num_features))


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    """The varint at raw[pos] and the position after it; past the end when it is cut off."""
    value = shift = 0
    while pos < len(raw) and shift < 64:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return 0, len(raw) + 1


def _decode_slowly(raw: bytes) -> PredictCall:
    """Any valid encoding, through the real PredictRequest."""
    try:
        request = pb.PredictRequest.FromString(raw)
    except DecodeError:
        raise InvalidArgument("request", "body is not a valid gatenet.v1.PredictRequest") from None
    inputs = np.asarray(request.inputs, dtype=_F4).tobytes()
    return PredictCall(request.model, inputs, request.num_features)


def _packed_tag(field: str) -> bytes:
    number = pb.PredictResponse.DESCRIPTOR.fields_by_name[field].number
    return tag(number, LENGTH)


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
            _SHORT[len(mid)] if len(mid) < 128 else _length_varint(len(mid)),
            mid,
            _PROBABILITIES,
            _SHORT[n] if n < 128 else _length_varint(n),
            probabilities.data,
            _LABELS,
            _SHORT[m] if m < 128 else _length_varint(m),
            labels.data,
        )
    )
