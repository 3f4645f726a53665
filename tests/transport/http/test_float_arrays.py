"""Long float arrays through numpy read and write what json_format does, or are left to it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from gatenet.server.errors import InvalidArgument
from gatenet.server.http import float_arrays, proto_json
from gatenet.v1 import gatenet_pb2 as pb

N = float_arrays.MIN_VALUES
_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # past float32's range too
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**80), max_value=2**80),
)
_ODD = st.sampled_from(["NaN", "Infinity", "1.5", True, None])  # json_format's own cases
_ARRAYS = st.one_of(
    st.lists(
        st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=N, max_size=3 * N
    ),
    st.lists(_NUMBERS, min_size=N, max_size=3 * N),
    st.lists(_NUMBERS | _ODD, min_size=N, max_size=3 * N),
)


def json_format_reads(body: bytes, cls):
    try:
        return json_format.Parse(body, cls())
    except json_format.ParseError:
        return None


@settings(max_examples=150, deadline=None, derandomize=True)
@given(values=_ARRAYS, nested=st.booleans())
def test_a_long_array_reads_as_json_format_reads_it(values, nested):
    if nested:  # in a oneof member's sub-message, beside other fields
        js = {"examples": {"numInputs": 1, "inputs": values, "targets": [1.0] * len(values)}}
        cls = pb.TrainRequest
    else:
        js = {"model": "m", "inputs": values}
        cls = pb.PredictRequest
    body = json.dumps(js).encode()
    expected = json_format_reads(body, cls)
    if expected is None:
        with pytest.raises(InvalidArgument):
            proto_json.parse(body, cls)
    else:
        assert proto_json.parse(body, cls).SerializeToString() == expected.SerializeToString()


def test_what_json_format_refuses_is_still_refused_with_a_long_array():
    rows = [0.5] * (2 * N)
    both = {"gate": {"name": "XOR"}, "examples": {"numInputs": 1, "inputs": rows}}
    with pytest.raises(InvalidArgument, match="examples: gate is given too"):
        proto_json.parse(json.dumps(both).encode(), pb.TrainRequest)
    twice = {"inputs": rows, "model": "m", "Inputs": rows}
    with pytest.raises(InvalidArgument, match="Inputs: no such field"):
        proto_json.parse(json.dumps(twice).encode(), pb.PredictRequest)


# Not float32's largest: json_format writes it 3.4028235e+38 and then refuses to read that.
_BELOW_MAX = float(np.float32(3.4e38))
_FLOAT32S = st.floats(width=32, min_value=-_BELOW_MAX, max_value=_BELOW_MAX) | st.sampled_from(
    [float("nan"), float("inf"), float("-inf")]
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(_FLOAT32S, min_size=N, max_size=3 * N))
def test_a_long_array_writes_the_float32s_json_format_writes(values):
    answer = pb.PredictResponse(model_id="m", probabilities=values, labels=[1] * len(values))
    ours = json.loads(proto_json.dumps(answer))
    theirs = json_format.MessageToDict(answer)
    assert list(ours) == list(theirs)  # the fields in the same order
    read = json_format.ParseDict(ours, pb.PredictResponse())
    assert read.SerializeToString() == answer.SerializeToString()  # the same float32s
    for mine, its in zip(ours["probabilities"], theirs["probabilities"], strict=True):
        if isinstance(its, float) and abs(its) >= 1e-37:  # subnormals: both read back exactly
            assert mine == its


def test_a_short_array_is_json_formats_own():
    answer = pb.PredictResponse(model_id="m", probabilities=[0.9, 0.1], labels=[1, 0])
    assert json.loads(proto_json.dumps(answer)) == json_format.MessageToDict(answer)
    assert float_arrays.to_dict(answer) == {
        "modelId": "m",
        "probabilities": [0.9, 0.1],
        "labels": [1, 0],
    }


def test_the_long_arrays_are_the_ones_taken():
    request = pb.TrainRequest()
    js = {"examples": {"numInputs": 2, "inputs": [0.5] * (2 * N), "targets": [1] * N}, "steps": 5}
    rest = float_arrays.prefill(js, request)
    assert rest == {"examples": {"numInputs": 2}, "steps": 5} and "inputs" in js["examples"]
    assert len(request.examples.inputs) == 2 * N and len(request.examples.targets) == N
    assert float_arrays.prefill({"inputs": [0.5] * (N - 1)}, pb.PredictRequest()) != {}
