"""Inference and Predict's codec on their own: the forward against torch, truth tables,
the response bytes, input checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from gatenet.server.errors import InvalidArgument
from gatenet.server.models import rows as row_checks
from gatenet.server.models.compiled import CompiledModel
from gatenet.server.rpc import predict_codec
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary.layers import ACTIVATIONS, bias_name, weight_name


def packed(values) -> bytes:
    """Rows as a PredictRequest carries them: packed little-endian float32."""
    return np.asarray(values, dtype="<f4").tobytes()


def predict(model: CompiledModel, inputs: bytes, num_features: int = 0, max_rows: int = 65536):
    """Predict's steps after the model lookup: check the rows, answer, encode."""
    count = row_checks.count_rows(inputs, num_features, model.num_inputs, max_rows)
    row_checks.check_finite(inputs, model.num_inputs)
    return predict_codec.encode("m", *model.answer(inputs, count)), count


def run(model: CompiledModel, values, num_features: int = 0, max_rows: int = 65536):
    """Predict on these rows, its bytes parsed back into a PredictResponse."""
    raw, count = predict(model, packed(values), num_features, max_rows)
    return pb.PredictResponse.FromString(raw), count


SHAPES = ((2,), (2, 4), (3, 2), (2, 10, 10, 10), (5, 6, 3))  # inputs, then hidden widths


def make_weights(sizes: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    """Random float32 layers [in, out] for a net of these sizes with one output."""
    rng = np.random.default_rng(seed)
    dims = (*sizes, 1)
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(dims, dims[1:], strict=False)):
        weights[weight_name(i)] = rng.normal(size=(n_in, n_out)).astype(np.float32)
        weights[bias_name(i)] = rng.normal(size=n_out).astype(np.float32)
    return weights


def torch_predict(weights: dict[str, np.ndarray], activation: str, x: np.ndarray) -> np.ndarray:
    """The oracle: torch in float64 on the same float32 parameters."""
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    count = len(weights) // 2
    h = torch.from_numpy(x.astype(np.float64))
    for i in range(count):
        w = torch.from_numpy(weights[weight_name(i)].astype(np.float64))
        b = torch.from_numpy(weights[bias_name(i)].astype(np.float64))
        h = h @ w + b
        h = torch.sigmoid(h) if i == count - 1 else act(h)
    return h[:, 0].numpy()


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sizes", SHAPES)
def test_numpy_forward_matches_torch(activation: str, sizes: tuple[int, ...]) -> None:
    weights = make_weights(sizes, seed=len(sizes))
    x = np.random.default_rng(1).normal(size=(300, sizes[0])).astype(np.float32)
    got = CompiledModel(weights, activation).forward(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, torch_predict(weights, activation, x), rtol=0, atol=1e-6)


def test_weights_round_trip_exactly() -> None:
    weights = make_weights((3, 5, 2), seed=3)
    back = CompiledModel(weights, "tanh").weights()
    assert back.keys() == weights.keys()
    for name, value in weights.items():
        assert back[name].flags.c_contiguous
        np.testing.assert_array_equal(back[name], value)


def test_bad_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="at least layers.0"):
        CompiledModel({}, "tanh")
    with pytest.raises(ValueError, match="unknown activation"):
        CompiledModel(make_weights((2,), seed=0), "gelu")
    two_outputs = {"layers.0.weight": np.zeros((2, 2)), "layers.0.bias": np.zeros(2)}
    with pytest.raises(ValueError, match="a model has 1"):
        CompiledModel(two_outputs, "tanh")


@pytest.mark.parametrize("inputs", ["bits", "reals"])
@pytest.mark.parametrize("rows", [1, 2, 21, 22, 127, 128, 1024])
def test_predict_writes_the_bytes_protobuf_would(rows: int, inputs: str) -> None:
    """Every path (a few rows, a batch of 0/1 rows, a batch of reals), 1- and 2-byte lengths."""
    weights = make_weights((2, 4), seed=5)
    model = CompiledModel(weights, "sigmoid")
    rng = np.random.default_rng(rows)
    if inputs == "bits":
        x = rng.integers(0, 2, size=(rows, 2)).astype(np.float32)
    else:
        x = rng.normal(size=(rows, 2)).astype(np.float32)
    body = packed(x)
    count = row_checks.count_rows(body, 0, model.num_inputs, 65536)
    row_checks.check_finite(body, model.num_inputs)
    raw = predict_codec.encode("id-1", *model.answer(body, count))
    assert count == rows
    response = pb.PredictResponse.FromString(raw)
    p = np.array(response.probabilities, dtype=np.float32)
    np.testing.assert_allclose(p, torch_predict(weights, "sigmoid", x), rtol=0, atol=1e-6)
    expected = pb.PredictResponse(
        model_id="id-1", probabilities=p.tolist(), labels=(p > 0.5).astype(int).tolist()
    )
    assert raw == expected.SerializeToString()


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sizes", [(1,), (2, 4), (3, 2), (8, 3)])
def test_a_batch_of_bits_answers_from_the_truth_table_as_the_forward_would(
    activation: str, sizes: tuple[int, ...]
) -> None:
    weights = make_weights(sizes, seed=len(sizes))
    model = CompiledModel(weights, activation)
    x = np.random.default_rng(3).integers(0, 2, size=(600, sizes[0])).astype(np.float32)
    response, _ = run(model, x)
    forward = model.forward(x)
    np.testing.assert_allclose(response.probabilities, forward, rtol=0, atol=1e-7)
    assert list(response.labels) == (np.array(response.probabilities) > 0.5).tolist()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_row_of_bits_gets_the_same_answer_alone_or_in_a_batch(activation: str) -> None:
    model = CompiledModel(make_weights((3, 4), seed=7), activation)
    rows = model.layout.table_rows  # all 8 rows of 0s and 1s
    assert rows is not None
    batch, _ = run(model, np.tile(rows, (40, 1)))  # 320 rows: a numpy-sized batch
    for k, row in enumerate(rows):
        alone, _ = run(model, row)
        assert alone.probabilities[0] == batch.probabilities[k]
        assert alone.labels[0] == batch.labels[k]


@pytest.mark.parametrize("inputs", [1, 2, 3])  # a row as one integer (1, 2) or as values (3)
@pytest.mark.parametrize("odd", [0.5, -0.0, 2.0, 1e-45, float("nan")])
def test_a_batch_that_is_not_all_bits_takes_the_forward(odd: float, inputs: int) -> None:
    model = CompiledModel(make_weights((inputs, 4), seed=1), "tanh")
    x = np.random.default_rng(4).integers(0, 2, size=(300, inputs)).astype(np.float32)
    x[123, inputs - 1] = odd
    if math.isnan(odd):
        with pytest.raises(InvalidArgument, match=f"row 123, column {inputs - 1} is nan"):
            run(model, x)
        return
    response, _ = run(model, x)
    np.testing.assert_allclose(response.probabilities, model.forward(x), rtol=0, atol=0)


@pytest.mark.parametrize("values", ["bits", "reals"])
@pytest.mark.parametrize("offset", [1, 2, 37])
def test_rows_at_any_offset_of_the_message_get_the_same_answer(values: str, offset: int) -> None:
    """A request's floats sit where its message put them, often not 4-byte aligned."""
    model = CompiledModel(make_weights((2, 4), seed=5), "sigmoid")
    rng = np.random.default_rng(offset)
    x = rng.integers(0, 2, (512, 2)) if values == "bits" else rng.normal(size=(512, 2))
    rows = packed(x)
    moved = memoryview(bytes(offset) + rows)[offset:]
    assert predict(model, moved) == predict(model, rows)


def test_wide_models_have_no_truth_table() -> None:
    model = CompiledModel(make_weights((9, 2), seed=0), "relu")
    x = np.ones((100, 9), dtype=np.float32)
    response, _ = run(model, x)
    np.testing.assert_allclose(response.probabilities, model.forward(x), atol=0)
    assert model.layout.table_rows is None


@pytest.mark.parametrize("rows", [1, 100])
def test_a_probability_of_one_half_is_label_zero(rows: int) -> None:
    zeros = {k: np.zeros_like(v) for k, v in make_weights((2, 4), seed=0).items()}
    response, _ = run(CompiledModel(zeros, "tanh"), [1.0, 0.0] * rows, 2, 1000)
    assert list(response.probabilities) == [0.5] * rows
    assert list(response.labels) == [0] * rows


@pytest.mark.parametrize(
    ("values", "num_features", "max_rows", "message"),
    [
        ([], 0, 10, "inputs: is empty"),
        ([0.0, 1.0], 3, 10, "num_features: 3 does not match the model's 2 inputs"),
        ([0.0, 1.0, 1.0], 0, 10, "3 values is not a multiple of the model's 2 inputs"),
        ([0.0, 1.0] * 11, 2, 10, "11 rows exceeds the limit 10"),
        ([0.0, 1.0, float("nan"), 1.0], 0, 10, "row 1, column 0 is nan; inputs must be finite"),
        ([0.0, 1.0] * 40 + [float("-inf"), 1.0], 0, 100, "row 40, column 0 is -inf"),
    ],
)
def test_bad_bodyname_the_field_and_bound(
    values: list[float], num_features: int, max_rows: int, message: str
) -> None:
    model = CompiledModel(make_weights((2, 4), seed=0), "tanh")
    with pytest.raises(InvalidArgument, match=message):
        run(model, values, num_features, max_rows)


def test_bodythat_are_not_whole_floats_are_refused() -> None:
    model = CompiledModel(make_weights((2, 4), seed=0), "tanh")
    with pytest.raises(InvalidArgument, match="inputs: 7 bytes is not a whole number"):
        predict(model, bytes(7), 0, 10)


@pytest.mark.parametrize("rows", [1, 100])
def test_huge_finite_bodyare_accepted(rows: int) -> None:
    """A float32 sum of them overflows; the check must look again rather than refuse."""
    big = float(np.finfo(np.float32).max)
    model = CompiledModel(make_weights((2, 4), seed=0), "tanh")
    response, count = run(model, [big, big] * rows, 2, 1000)
    assert count == rows
    assert all(np.isfinite(response.probabilities))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("rows", [1, 100])
def test_huge_finite_bodyget_the_right_finite_probabilities(activation: str, rows: int) -> None:
    """64 inputs of 3.4e38 overflow a float32 forward (inf - inf = nan); the answer must not."""
    weights = make_weights((64, 3), seed=9)
    x = np.full((rows, 64), 3.4e38, dtype=np.float32)
    x[:, ::2] *= -1
    response, _ = run(CompiledModel(weights, activation), x)
    expected = torch_predict(weights, activation, x)
    assert np.isfinite(response.probabilities).all()
    np.testing.assert_allclose(response.probabilities, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rows", [1, 100])
def test_check_finite_gives_the_largest_magnitude(rows: int) -> None:
    """forward.py hands it to compute(): under the model's bound the forward skips its guards."""
    x = np.random.default_rng(rows).normal(size=(rows, 2)).astype(np.float32)
    x[rows // 2, 1] = -7.5
    assert row_checks.check_finite(packed(x), 2) == 7.5


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_moderate_rows_on_huge_weights_still_get_finite_probabilities(activation: str) -> None:
    """Weights of 1e38 overflow float32 on inputs of 10: the bound must send them the careful
    way (float64 again), with no floating-point warning."""
    weights = make_weights((2, 4), seed=3)
    weights[weight_name(0)] *= np.float32(1e38) / np.abs(weights[weight_name(0)]).max()
    model = CompiledModel(weights, activation)
    x = np.full((100, 2), 10.0, dtype=np.float32)
    x[:, 1] *= -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        largest = row_checks.check_finite(packed(x), 2)
        p, _ = model.compute(packed(x), 100, largest)
    expected = torch_predict(weights, activation, x)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_rows_under_the_bound_answer_as_the_guarded_forward_does(activation: str) -> None:
    model = CompiledModel(make_weights((3, 5, 4), seed=2), activation)
    x = np.random.default_rng(8).normal(scale=100, size=(300, 3)).astype(np.float32)
    largest = row_checks.check_finite(packed(x), 3)
    assert largest < model._safe_magnitude()  # the quiet way
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, labels = model.compute(packed(x), 300, largest)
    np.testing.assert_array_equal(p, model.forward(x))
    np.testing.assert_array_equal(labels, p > 0.5)
