"""Models held ready for inference, and Predict's whole computation from request to response.

Predicting a small net is a few dozen multiply-adds, so per-call overhead is
the cost, and every microsecond a handler holds the interpreter lock is taken
from the gRPC threads around it (bench/predict.py: a 10 µs handler cost a fifth
of the server's calls per second). So: one float32 buffer per model plus a
layout shared by every model of the same shape. A model of up to 8 inputs also
holds its truth table, and rows of 0s and 1s (the common case) are looked up:
one row by its wire bytes in a dict, a batch with numpy take. Other rows: a few
run through a straight-line Python function generated once per shape (no numpy
call at all), bigger batches run numpy on the buffer. Rows arrive and results
leave as wire bytes (predict_wire.py), never as one Python float per value.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from collections.abc import Callable, Sequence

import numpy as np

from gatenet.server.errors import InvalidArgument
from gatenet.server.predict_wire import encode_response

# Up to this many rows x multiply-adds, generated Python beats numpy's ~1 µs per call
# (2-4-1: up to 21 rows; 2-10-10-10-1: 1 row). Measured; tests/test_serving.py checks both.
SMALL_WORK = 256
# Models with up to this many inputs answer rows of 0s and 1s from their truth table:
# at most 256 entries of 5 bytes, held as two ready array views (~420 bytes for 2 inputs).
TABLE_INPUTS = 8
_ONE_BITS = 0x3F800000  # 1.0 as float32 bits; 0.0 is 0
_F4, _U4 = np.dtype("<f4"), np.dtype("<u4")  # the wire's byte order, whatever the machine's
_BIT_WIRE = (bytes(4), _ONE_BITS.to_bytes(4, "little"))  # 0.0 and 1.0 as sent

Forward = Callable[[Sequence[float], Sequence[float]], list[float]]


def _sigmoid_(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z / 2)) == sigmoid(z) without exp overflow warnings
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


def _relu_(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0, out=z)


def _tanh_(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


_ACTIVATIONS = {"sigmoid": _sigmoid_, "tanh": _tanh_, "relu": _relu_}
# The same, as Python source applied to a temporary `t`.
_FLOAT_ACTIVATIONS = {
    "sigmoid": "0.5 + 0.5 * tanh(0.5 * t)",
    "tanh": "tanh(t)",
    "relu": "t if t > 0.0 else 0.0",
}


class Program:
    """What every model of one shape and activation shares: the buffer layout and the forward."""

    def __init__(self, shapes: tuple[tuple[int, int], ...], activation: str) -> None:
        self.shapes = shapes  # (inputs, outputs) per layer
        self.activation = activation
        self.num_inputs = shapes[0][0]
        self.work = sum(n_in * n_out for n_in, n_out in shapes)  # multiply-adds per row
        # Per layer, offsets into the buffer of W.T [outputs, inputs] (one unit's weights
        # adjacent) and of b [outputs].
        self.offsets: list[tuple[int, int]] = []
        offset = 0
        for n_in, n_out in shapes:
            self.offsets.append((offset, offset + n_in * n_out))
            offset += n_in * n_out + n_out
        self.size = offset
        self.forward = self._generate() if self.work <= SMALL_WORK else None
        # Every 0/1 row, row k being k's bits (input i = bit i); the weights that turn a 0/1
        # row back into its k, so a batch becomes table indices in one matmul; and each row's
        # wire bytes to its k, so a one-row request is a dict lookup.
        self.table_rows: np.ndarray | None = None
        self.bit_values: np.ndarray | None = None
        self.row_index: dict[bytes, int] = {}
        n = self.num_inputs
        if n <= TABLE_INPUTS:
            k = np.arange(2**n)
            self.table_rows = ((k[:, None] >> np.arange(n)) & 1).astype(np.float32)
            self.bit_values = (2.0 ** np.arange(n)).astype(np.float32)
            wire = self.table_rows.astype("<f4")
            self.row_index = {wire[i].tobytes(): i for i in range(2**n)}

    def _generate(self) -> Forward:
        """forward(v, x): P(label = 1) of each row of x (row-major floats), v = the buffer."""
        # Straight-line source built from layer sizes only (never request data), compiled once
        # per shape: ~4x quicker than looping over layers and units.
        n = self.num_inputs
        lines = ["def forward(v, x):", "    out = []", f"    for o in range(0, len(x), {n}):"]
        lines += [f"        h0_{i} = x[o + {i}]" for i in range(n)]
        last = len(self.shapes) - 1
        for k, ((n_in, n_out), (w, b)) in enumerate(zip(self.shapes, self.offsets, strict=True)):
            for j in range(n_out):
                terms = " + ".join(f"h{k}_{i} * v[{w + j * n_in + i}]" for i in range(n_in))
                lines.append(f"        t = v[{b + j}] + {terms}")
                act = _FLOAT_ACTIVATIONS["sigmoid" if k == last else self.activation]
                lines.append(f"        h{k + 1}_{j} = {act}")
        lines += [f"        out.append(h{last + 1}_0)", "    return out"]
        namespace: dict[str, object] = {"tanh": math.tanh}
        exec(compile("\n".join(lines), f"<gatenet forward {self.shapes}>", "exec"), namespace)  # noqa: S102
        return namespace["forward"]  # type: ignore[return-value]


@functools.lru_cache(maxsize=1024)
def program(shapes: tuple[tuple[int, int], ...], activation: str) -> Program:
    """The shared Program of this shape and activation."""
    return Program(shapes, activation)


class CompiledModel:
    """A network's parameters in one float32 buffer, and the Program of its shape."""

    # A few references per model: the layout and the code live once per shape.
    __slots__ = ("params", "program", "_table")

    def __init__(self, weights: dict[str, np.ndarray], activation: str) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        parts, shapes = [], []
        i = 0
        while f"layers.{i}.weight" in weights:
            w = np.asarray(weights[f"layers.{i}.weight"], dtype=np.float32)
            b = np.asarray(weights[f"layers.{i}.bias"], dtype=np.float32)
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise ValueError(f"layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            parts += [w.T.ravel(), b]
            shapes.append((int(w.shape[0]), int(w.shape[1])))
            i += 1
        if not shapes:
            raise ValueError("a model needs at least layers.0.weight and layers.0.bias")
        if shapes[-1][1] != 1:
            raise ValueError(f"the output layer has {shapes[-1][1]} units; Predict needs 1")
        # array("f"): half the bytes of an ndarray for a small model, its items read as floats
        # without a numpy call, and numpy views it without a copy.
        self.params = array("f", np.concatenate(parts).tobytes())
        self.program = program(tuple(shapes), activation)
        # Built now, not on a first request: no model's first Predict pays for it.
        self._table = self._build_table() if self.program.table_rows is not None else None

    @property
    def activation(self) -> str:
        return self.program.activation

    @property
    def num_inputs(self) -> int:
        return self.program.num_inputs

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(W.T [out, in], b [out]) views of the buffer, per layer."""
        p = np.frombuffer(self.params, dtype=np.float32)
        return [
            (p[w:b].reshape(n_out, n_in), p[b : b + n_out])
            for (n_in, n_out), (w, b) in zip(self.program.shapes, self.program.offsets, strict=True)
        ]

    def weights(self) -> dict[str, np.ndarray]:
        """The layers by tensor name: contiguous [in, out] weights and [out] biases."""
        named = {}
        for i, (wt, b) in enumerate(self._layers()):
            named[f"layers.{i}.weight"] = np.ascontiguousarray(wt.T)
            named[f"layers.{i}.bias"] = b.copy()
        return named

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) for each row of x [rows, num_inputs] float32, with numpy."""
        # Transposed, [units, rows]: a bias column broadcasts along the long axis, 3x
        # quicker than adding a bias row to each of many short rows.
        act = _ACTIVATIONS[self.program.activation]
        *hidden, (w_out, b_out) = self._layers()
        h = x.T
        for wt, b in hidden:
            z = wt @ h
            z += b[:, None]
            h = act(z)
        # sigmoid(z) = 0.5 + 0.5 tanh(z / 2): halving the 1-unit layer's few weights saves a
        # pass over the rows (each pass over >500 values also hands the interpreter lock round).
        z = (w_out[0] * 0.5) @ h
        z += b_out[0] * 0.5
        np.tanh(z, out=z)
        z *= 0.5
        z += 0.5
        return z

    def _build_table(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.predict(self.program.table_rows)  # the forward a batch of these rows runs
        # Two views of one buffer, kept ready: a batch then takes from them with no set-up.
        buffer = np.concatenate((p.astype(_F4).view(np.uint8), np.greater(p, 0.5).view(np.uint8)))
        return buffer[: 4 * len(p)].view(_F4), buffer[4 * len(p) :]

    def truth_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Every 0/1 row's little-endian float32 probability, and its 0/1 label byte."""
        if self._table is None:
            raise ValueError(f"{self.num_inputs} inputs exceeds {TABLE_INPUTS} for a table")
        return self._table

    def predict_floats(self, x: Sequence[float]) -> list[float]:
        """P(label = 1) for each row of x (row-major floats), in float64 without numpy."""
        forward = self.program.forward
        if forward is None:
            raise ValueError(f"{self.program.work} multiply-adds per row exceeds {SMALL_WORK}")
        return forward(self.params, x)


def _rows(size: int, num_features: int, model_inputs: int, max_rows: int) -> int:
    """The number of rows in `size` bytes of packed float32, or InvalidArgument naming the bound."""
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
        raise InvalidArgument("inputs", f"{rows} rows exceeds the limit {max_rows}")
    return rows


def _not_finite(values: Sequence[float] | np.ndarray) -> InvalidArgument:
    bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
    return InvalidArgument("inputs", f"value {bad} is {float(values[bad])}; inputs must be finite")


def _array(inputs: bytes, rows: int, model_inputs: int) -> np.ndarray:
    x = np.frombuffer(inputs, dtype=_F4)  # a view of the request's bytes, no copy
    # A float32 sum is finite when every value is, unless finite values overflow it:
    # then (and only then) look at each value.
    with np.errstate(over="ignore"):
        total = np.add.reduce(x)
    if not math.isfinite(total) and not np.isfinite(x).all():
        raise _not_finite(x)
    return x.reshape(rows, model_inputs)


def parse_rows(inputs: bytes, num_features: int, model_inputs: int, max_rows: int) -> np.ndarray:
    """Turn Predict's packed little-endian float32 rows into a checked [rows, features] array."""
    return _array(inputs, _rows(len(inputs), num_features, model_inputs, max_rows), model_inputs)


_BIG_ENDIAN = sys.byteorder == "big"  # the wire's floats are little-endian
_HALF = 0.5  # labels are 1 where the probability sent exceeds this


def predict(
    model_id: str, model: CompiledModel, inputs: bytes, num_features: int, max_rows: int
) -> tuple[bytes, int]:
    """Check the rows (packed float32 bytes), run the model; the serialized response and rows."""
    rows = _rows(len(inputs), num_features, model.program.num_inputs, max_rows)
    k = model.program.row_index.get(inputs) if rows == 1 else None
    if k is not None:  # one row of 0s and 1s: its truth-table entry
        probabilities, labels = model.truth_table()
        return encode_response(model_id, probabilities[k : k + 1], labels[k : k + 1], 1), 1
    if rows * model.program.work <= SMALL_WORK:
        x = array("f", inputs)
        if _BIG_ENDIAN:
            x.byteswap()
        # A float64 sum of float32 values cannot overflow: finite iff every value is.
        if not math.isfinite(sum(x)):
            raise _not_finite(x)
        # Rounded to float32 first, so each label agrees with the probability sent.
        p32 = array("f", model.predict_floats(x))
        labels = bytes(map(_HALF.__lt__, p32))
        if _BIG_ENDIAN:
            p32.byteswap()
        return encode_response(model_id, p32, labels, rows), rows
    # The first value settles most real-valued batches before any numpy call.
    if model.program.bit_values is not None and inputs[:4] in _BIT_WIRE:
        answer = _from_truth_table(model_id, model, inputs, rows)
        if answer is not None:
            return answer, rows
    x = _array(inputs, rows, model.program.num_inputs)
    # Huge finite inputs may overflow float32 on the way; the results stay right (tested).
    with np.errstate(over="ignore"):
        p = model.predict(x)
    labels = np.greater(p, 0.5)  # numpy bools are the bytes 0 and 1
    return encode_response(model_id, p.astype(_F4, copy=False), labels, rows), rows


def _from_truth_table(
    model_id: str, model: CompiledModel, inputs: bytes, rows: int
) -> bytes | None:
    """The response when every value is 0.0 or 1.0 (so finite too), else None."""
    bits = np.frombuffer(inputs, dtype=_U4)
    ones = bits == _ONE_BITS
    if np.count_nonzero(ones) != np.count_nonzero(bits):
        return None  # some value is neither 0.0 nor 1.0
    x = bits.view(_F4).reshape(rows, model.program.num_inputs)
    index = (x @ model.program.bit_values).astype(np.intp)  # exact: small integers
    probabilities, labels = model.truth_table()
    # In range by construction, so "clip" only skips take's bounds check.
    return encode_response(
        model_id, probabilities.take(index, mode="clip"), labels.take(index, mode="clip"), rows
    )
