"""Predict's wire view: any valid encoding reads the same; responses match protobuf."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gatenet.server.errors import InvalidArgument
from gatenet.server.models.rows import check_finite
from gatenet.server.rpc.predict_codec import decode, encode
from gatenet.v1 import gatenet_pb2 as pb

VALUES = [0.0, 1.0, 0.25, -3.5]


def floats(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def test_the_canonical_encoding_reads_the_rows_as_sent() -> None:
    raw = pb.PredictRequest(model="xor", inputs=VALUES, num_features=2).SerializeToString()
    got = decode(raw)
    assert (got.model, got.inputs, got.num_features) == ("xor", floats(VALUES), 2)
    # They start at byte 7 of the body: small rows are copied, so numpy reads them aligned.
    assert np.frombuffer(got.inputs, dtype="<f4").flags.aligned


def test_big_rows_are_a_view_of_the_body() -> None:
    values = [0.5] * (1 << 17)  # 512 KB of rows
    got = decode(pb.PredictRequest(model="xor", inputs=values).SerializeToString())
    assert isinstance(got.inputs, memoryview)  # not copied on the event loop
    assert got.inputs == floats(values)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05xor",  # the model's length runs past the end
        b"\x0a\x03xor\x12\x10" + floats(VALUES[:3]),  # so do the rows'
        b"\x0a\x03xor\x12",  # a tag with no length
        b"\x0a\x02\xff\xfe\x12\x04" + floats([1.0]),  # a model name that is not UTF-8
    ],
    ids=["model-cut", "rows-cut", "length-missing", "not-utf8"],
)
def test_bodies_the_fast_reader_refuses_are_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidArgument, match="PredictRequest"):
        decode(raw)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("count", [2, 100, 70_000])  # each of check_finite's three ways
def test_check_finite_reads_views_as_float32(bad: float, count: int) -> None:
    values = [0.5] * count
    values[1] = bad
    with pytest.raises(InvalidArgument, match=f"row 0, column 1 is {bad}"):
        check_finite(memoryview(floats(values)), 2)
    with pytest.raises(InvalidArgument, match=f"row 1, column 0 is {bad}"):
        check_finite(memoryview(floats(values)), 1)
    check_finite(memoryview(floats([0.5] * count)), 2)


@pytest.mark.parametrize(
    "raw",
    [
        # rows sent unpacked: one fixed32 field per value (legal; proto3 parsers accept it)
        b"\x0a\x03xor" + b"".join(b"\x15" + struct.pack("<f", v) for v in VALUES),
        # rows split over two packed chunks, which protobuf concatenates
        b"\x0a\x03xor\x12\x08" + floats(VALUES[:2]) + b"\x12\x08" + floats(VALUES[2:]),
        # an unknown field (from a newer client) besides the rows
        b"\x0a\x03xor\x12\x10" + floats(VALUES) + b"\x78\x01",
        # a default value written out explicitly
        b"\x0a\x03xor\x12\x10" + floats(VALUES) + b"\x18\x00",
    ],
    ids=["unpacked", "two-chunks", "unknown-field", "explicit-default"],
)
def test_other_valid_encodings_read_the_same(raw: bytes) -> None:
    expected = pb.PredictRequest.FromString(raw)
    assert list(expected.inputs) == VALUES  # what protobuf itself makes of it
    got = decode(raw)
    assert (got.model, got.inputs, got.num_features) == ("xor", floats(VALUES), 0)


@pytest.mark.parametrize("raw", [b"\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe"])
def test_bytes_that_are_not_a_request_are_invalid_argument(raw: bytes) -> None:
    with pytest.raises(
        InvalidArgument, match="request: body is not a valid gatenet.v1.PredictRequest"
    ):
        decode(raw)


@pytest.mark.parametrize("rows", [0, 1, 31, 32, 4096])
def test_responses_are_what_protobuf_serializes(rows: int) -> None:
    p = np.random.default_rng(rows).uniform(size=rows).astype("<f4")
    labels = (p > 0.5).astype(np.uint8)
    expected = pb.PredictResponse(
        model_id="a" * 32, probabilities=p.tolist(), labels=labels.tolist()
    ).SerializeToString()
    as_bytes = encode("a" * 32, p, labels)
    if rows:
        assert as_bytes == expected
    else:  # protobuf leaves empty packed fields out; Predict never answers zero rows
        assert pb.PredictResponse.FromString(as_bytes) == pb.PredictResponse.FromString(expected)
