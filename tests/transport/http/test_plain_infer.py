"""The common V2 infer body's one-pass reading gives the bytes the full checks give, or leaves
the body to them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatenet.server.errors import InvalidArgument
from gatenet.server.http import infer_json
from gatenet.server.http.plain_infer import plain

_F4_MAX = float(np.finfo(np.float32).max)
_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # past float32's range too
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([True, False, "1.5", None, [], {}]),
)


def _request(shape: list, data: list, **more: object) -> dict:
    tensor = {"name": "inputs", "datatype": "FP32", "shape": shape, "data": data}
    return {"inputs": [tensor], **more}


def _full(shape: list, data: list) -> bytes | None:
    """What the field-by-field checks read (None: they refuse it)."""
    try:
        return infer_json._values(data, "FP32", shape)
    except InvalidArgument:
        return None


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=80),
    values=st.data(),
    nested=st.booleans(),
)
def test_plain_reads_what_the_full_checks_read_or_leaves_the_body_to_them(rows, values, nested):
    flat = values.draw(st.lists(_VALUES, min_size=2 * rows, max_size=2 * rows))
    data = [flat[i : i + 2] for i in range(0, len(flat), 2)] if nested else flat
    common = plain(_request([rows, 2], data))
    full = _full([rows, 2], data)
    if common is not None:
        assert common[2] == full
    if all(type(v) is float and abs(v) <= _F4_MAX for v in flat):
        assert common is not None  # the common body does take the plain path


@pytest.mark.parametrize("rows", [1, 3, 64, 1024])
def test_plain_takes_floats_and_small_integers_flat_or_nested(rows):
    values = np.random.default_rng(rows).normal(0, 1e6, (rows, 2))
    data = values.tolist()
    data[0][0] = 3  # an integer among floats
    request = _request([rows, 2], data, id="call-1")
    request_id, shape, raw = plain(request)  # type: ignore[misc]
    assert (request_id, shape) == ("call-1", [rows, 2])
    expected = np.array(data, dtype=np.float64).astype("<f4").tobytes()
    assert raw == expected == _full([rows, 2], data)


@pytest.mark.parametrize(
    "request_",
    [
        _request([1, 2], [0.5, 1], outputs=[]),  # any other key: the full checks
        _request([1, 2], [0.5, 1], id=3),
        _request([1, 2], [True, 1.0]),
        _request([1, 2], [2**60, 1.0]),  # past float64's exact integers
        _request([1, 2], [1e39, 1.0]),  # past FP32's range: the full checks name it
        _request([1, 2], [0.5]),
        _request([2, 2], [[0.5, 1], [1]]),
        _request([1, 2], [[0.5], 1]),
        _request([-1, 2], []),
        _request([1.0, 2], [0.5, 1]),
        _request([1, 2, 1], [0.5, 1]),
        {"inputs": [{"name": "inputs", "datatype": "FP64", "shape": [1, 2], "data": [0, 1]}]},
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]},
        {"inputs": [{"name": "inputs", "datatype": "FP32", "shape": [1, 2]}]},
        {"inputs": []},
    ],
)
def test_plain_leaves_every_other_body_to_the_full_checks(request_):
    assert plain(request_) is None


@pytest.mark.parametrize(
    "flat",
    [
        [True, False] * 40,  # true/false alone: FP32 refuses them
        [True] * 79 + [1.5],  # among numbers numpy reads them as 1 and 0
        [True] * 79 + [2],
        [2**60 + 1] * 79 + [0.5],  # integers past float64's exact ones
        [2**60 + 1] * 80,
        [2**64] * 80,
        [10**400] + [0] * 79,
        [3.5e38] + [0.0] * 79,
        ["1.5"] * 80,
        [None] * 80,
    ],
)
def test_long_data_reads_as_the_full_checks_read_it(flat):
    common = plain(_request([40, 2], flat))
    full = _full([40, 2], flat)
    assert common is None or common[2] == full
    if full is None:
        assert common is None
