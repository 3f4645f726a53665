"""A model held ready for inference: one float32 buffer, its truth table, a numpy forward.

Predicting a small net is a few dozen multiply-adds, so per-call overhead is the
cost (bench/predict.py). So: one float32 buffer per model plus a layout shared by
every model of the same shape. A model of up to 8 inputs also holds its truth
table, and rows of 0s and 1s (the common case) are looked up: one row by its
bytes in a dict, a batch with numpy take. Other rows run numpy on the buffer.

Rows come in as little-endian float32 bytes whose count the caller checked; the
table answers rows of 0s and 1s as they are, and compute() takes only rows the
caller found finite (forward.py). Results go out as float32 probabilities and 0/1
label bytes. Nothing here knows the wire or raises request errors.
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Any

import numpy as np

from gatenet.server.models.rows import aligned
from gatenet.vocabulary.layers import bias_name, weight_name

# Models with up to this many inputs answer rows of 0s and 1s from their truth table:
# at most 256 entries of 5 bytes, held as two ready array views (~420 bytes for 2 inputs).
TABLE_INPUTS = 8
_ONE_BITS = 0x3F800000  # 1.0 as float32 bits; 0.0 is 0
_F4, _U4 = np.dtype("<f4"), np.dtype("<u4")  # little-endian, whatever the machine's order
_BIT_BYTES = (bytes(4), _ONE_BITS.to_bytes(4, "little"))  # 0.0 and 1.0
# A row of 1 or 2 float32s read as one integer.
_ROW_INTEGERS: dict[int, np.dtype[Any]] = {1: _U4, 2: np.dtype("<u8")}
# Bounds on every pre-activation below this leave float32 room for rounding: no step overflows.
_ROOM = float(np.finfo(np.float32).max) / 4


def _sigmoid_(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z / 2)) == sigmoid(z), with no overflow for any finite z
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


def _relu_(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0, out=z)


def _tanh_(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


ACTIVATIONS = {"sigmoid": _sigmoid_, "tanh": _tanh_, "relu": _relu_}


class Layout:
    """What every model of one shape shares: where each layer sits in the buffer, table rows."""

    def __init__(self, shapes: tuple[tuple[int, int], ...]) -> None:
        self.shapes = shapes  # (inputs, outputs) per layer
        self.num_inputs = shapes[0][0]
        self.work = sum(n_in * n_out for n_in, n_out in shapes)  # multiply-adds per row
        # Per layer, offsets into the buffer of W.T [outputs, inputs] and of b [outputs].
        self.offsets: list[tuple[int, int]] = []
        offset = 0
        for n_in, n_out in shapes:
            self.offsets.append((offset, offset + n_in * n_out))
            offset += n_in * n_out + n_out
        self.size = offset
        # The forward's views of a model's buffer, as (shape, byte offset) ready for
        # np.ndarray: per hidden layer W.T [out, in] and b as a column [out, 1]; then the
        # output unit's weights [in] and the float index of its bias.
        self.hidden_views = [
            (((n_out, n_in), 4 * w), ((n_out, 1), 4 * b))
            for (n_in, n_out), (w, b) in zip(shapes[:-1], self.offsets[:-1], strict=True)
        ]
        last_w, last_b = self.offsets[-1]
        self.output_view = ((shapes[-1][0],), 4 * last_w), last_b
        # Every 0/1 row (row k = k's bits, input i = bit i); the weights that turn a row of 0/1
        # bits back into its k, so a batch becomes table indices in one matmul; each row's
        # bytes to its k, so a one-row call is a dict lookup.
        self.table_rows: np.ndarray | None = None
        self.bit_weights: np.ndarray | None = None
        self.row_index: dict[bytes, int] = {}
        # Rows of 1 or 2 inputs are one integer each (4 or 8 bytes): the 0/1 rows' integers
        # in k order, which is also their sorted order (input i is the more significant).
        self.row_patterns: np.ndarray | None = None
        n = self.num_inputs
        if n <= TABLE_INPUTS:
            k = np.arange(2**n)
            self.table_rows = ((k[:, None] >> np.arange(n)) & 1).astype(np.float32)
            self.bit_weights = (1 << np.arange(n)).astype(_U4)
            as_bytes = self.table_rows.astype(_F4)
            self.row_index = {as_bytes[i].tobytes(): i for i in range(2**n)}
            if n in _ROW_INTEGERS:
                self.row_patterns = np.frombuffer(as_bytes.tobytes(), dtype=_ROW_INTEGERS[n])


@functools.lru_cache(maxsize=1024)
def layout(shapes: tuple[tuple[int, int], ...]) -> Layout:
    """The shared Layout of this shape."""
    return Layout(shapes)


class CompiledModel:
    """A network's parameters in one float32 buffer, its activation, and its truth table."""

    # A few references per model: the layout lives once per shape.
    __slots__ = ("params", "layout", "activation", "_table", "_safe")

    def __init__(self, weights: dict[str, np.ndarray], activation: str) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        parts: list[np.ndarray] = []
        shapes: list[tuple[int, int]] = []
        i = 0
        while weight_name(i) in weights:
            w = np.asarray(weights[weight_name(i)], dtype=np.float32)
            b = np.asarray(weights[bias_name(i)], dtype=np.float32)
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise ValueError(f"layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            if shapes and shapes[-1][1] != w.shape[0]:
                raise ValueError(f"layer {i}: weight {w.shape} does not follow {shapes[-1]}")
            parts += [w.T.ravel(), b]
            shapes.append((int(w.shape[0]), int(w.shape[1])))
            i += 1
        if not shapes:
            raise ValueError("a model needs at least layers.0.weight and layers.0.bias")
        if shapes[-1][1] != 1:
            raise ValueError(f"the output layer has {shapes[-1][1]} units; a model has 1")
        # array("f"): half the bytes of an ndarray for a small model; numpy views it, no copy.
        self.params = array("f", np.concatenate(parts).astype(_F4).tobytes())
        self.layout = layout(tuple(shapes))
        self.activation = activation
        self._safe: float | None = None  # the first real-valued forward works it out
        # Built now, not on a first request: no model's first Predict pays for it.
        self._table = self._build_table() if self.layout.table_rows is not None else None

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its buffers: a training worker builds the model (models/trained.py) and
        # the server loads it as it is, with no forward pass to rebuild the table.
        table = None if self._table is None else self._table[0].tobytes() + self._table[1].tobytes()
        return _from_parts, (self.params.tobytes(), self.layout.shapes, self.activation, table)

    @property
    def num_inputs(self) -> int:
        return self.layout.num_inputs

    @property
    def nbytes(self) -> int:
        """Bytes of parameters and truth table this model holds (for the cache's budget)."""
        return 4 * self.layout.size + (5 << self.num_inputs if self._table is not None else 0)

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(W.T [out, in], b [out]) views of the buffer, per layer."""
        p = np.frombuffer(self.params, dtype=np.float32)
        return [
            (p[w:b].reshape(n_out, n_in), p[b : b + n_out])
            for (n_in, n_out), (w, b) in zip(self.layout.shapes, self.layout.offsets, strict=True)
        ]

    def _safe_magnitude(self) -> float:
        """The largest input magnitude under which no step of the float32 forward can
        overflow (so none makes an inf, nor a nan of inf - inf); 0 when no input is safe."""
        # Each layer's pre-activation is at most a * (the bound on its input) + c; tanh and
        # sigmoid bound their output by 1, relu passes the bound on: bound = scale * x + offset.
        scale, offset, safe = 1.0, 0.0, math.inf
        layers = self._layers()
        for i, (wt, b) in enumerate(layers):
            a = float(np.abs(wt.astype(np.float64)).sum(axis=1).max())
            c = float(np.abs(b.astype(np.float64)).max())
            scale, offset = a * scale, a * offset + c
            if not offset < _ROOM:
                return 0.0
            if scale > 0:
                safe = min(safe, (_ROOM - offset) / scale)
            if i < len(layers) - 1 and self.activation != "relu":
                scale, offset = 0.0, 1.0
        return safe

    def weights(self) -> dict[str, np.ndarray]:
        """The layers by tensor name: contiguous [in, out] weights and [out] biases."""
        named = {}
        for i, (wt, b) in enumerate(self._layers()):
            named[weight_name(i)] = np.ascontiguousarray(wt.T)
            named[bias_name(i)] = b.copy()
        return named

    def forward(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) for each row of x [rows, num_inputs] float32, with numpy."""
        # Huge finite inputs can overflow float32 on the way (inf - inf = nan); float64 holds
        # them, so a nan result is computed again there. p·p is nan iff some p is (p <= 1).
        with np.errstate(over="ignore", invalid="ignore"):
            p = self._forward(x)
            if math.isnan(np.dot(p, p)):
                p = self._forward(x.astype(np.float64)).astype(np.float32)
        return p

    def _forward(self, x: np.ndarray) -> np.ndarray:
        # Transposed, [units, rows]: a bias column broadcasts along the long axis, 3x
        # quicker than adding a bias row to each of many short rows. Each view is made in
        # one call (np.ndarray over the buffer): the server runs this with cold caches,
        # where every numpy call costs µs.
        act = ACTIVATIONS[self.activation]
        params, layout = self.params, self.layout
        h = x.T
        for (w_shape, w_at), (b_shape, b_at) in layout.hidden_views:
            z = np.ndarray(w_shape, np.float32, params, w_at) @ h
            z += np.ndarray(b_shape, np.float32, params, b_at)
            h = act(z)
        (out_shape, out_at), b_index = layout.output_view
        # sigmoid(z) = 0.5 + 0.5 tanh(z / 2): halving the 1-unit layer's few weights saves a
        # pass over the rows.
        z = (np.ndarray(out_shape, np.float32, params, out_at) * 0.5) @ h
        z += params[b_index] * 0.5
        np.tanh(z, out=z)
        z *= 0.5
        z += 0.5
        return z

    def _build_table(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.forward(self.layout.table_rows)  # type: ignore[arg-type]
        # Two views of one buffer, kept ready: a batch then takes from them with no set-up.
        buffer = np.concatenate((p.astype(_F4).view(np.uint8), np.greater(p, 0.5).view(np.uint8)))
        return buffer[: 4 * len(p)].view(_F4), buffer[4 * len(p) :]

    def answer(self, rows: bytes | memoryview, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (little-endian float32) and 0/1 labels (uint8) of `count` rows given
        as little-endian float32 bytes (or a view of them), finite and a whole number of rows."""
        return self.from_table(rows, count) or self.compute(rows, count)

    def from_table(
        self, rows: bytes | memoryview, count: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """answer() from the truth table when every value is 0.0 or 1.0 (so finite: no check
        needed), else None."""
        table = self._table
        if table is None:
            return None
        if count == 1:
            k = self.layout.row_index.get(bytes(rows))
            if k is not None:  # one row of 0s and 1s: its truth-table entry
                return table[0][k : k + 1], table[1][k : k + 1]
        elif rows[:4] in _BIT_BYTES:  # the first value settles most real-valued batches
            index = self._table_index(rows)
            if index is not None:
                # In range by construction, so "clip" only skips take's bounds check. Two
                # takes of one kind: the second runs on code the first brought into cache.
                return table[0].take(index, mode="clip"), table[1].take(index, mode="clip")
        return None

    def compute(
        self, rows: bytes | memoryview, count: int, largest: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """answer() by the forward pass, for rows already checked to be finite whose largest
        magnitude is `largest` (or at most)."""
        x = aligned(rows, _F4).reshape(count, self.num_inputs)
        safe = self._safe
        if safe is None:  # once per model, not per model loaded: most only see 0/1 rows
            safe = self._safe = self._safe_magnitude()
        # Rows this model cannot overflow on need neither np.errstate nor the nan check: two
        # numpy calls and a context manager fewer, each several µs in the server.
        p = self._forward(x) if largest < safe else self.forward(x)
        return p.astype(_F4, copy=False), np.greater(p, 0.5).view(np.uint8)

    def _table_index(self, rows: bytes | memoryview) -> np.ndarray | None:
        """Each row's truth-table index when every value is 0.0 or 1.0, else None."""
        # Few numpy calls, each of one kind: between two Predicts gRPC's own work evicts
        # numpy's code and data, so each call costs several µs more there than in a loop.
        layout = self.layout
        patterns = layout.row_patterns
        if patterns is not None:  # a row is one integer: its index is where it sorts
            whole = np.frombuffer(rows, dtype=patterns.dtype)
            index = patterns.searchsorted(whole)
            # A row that is no 0/1 row sorts somewhere too; its pattern there differs from it.
            found = patterns.take(index, mode="clip").tobytes()
            return index if found == (rows if type(rows) is bytes else whole.tobytes()) else None
        bits = aligned(rows, _U4)
        bit = bits >> 29  # 1.0 (0x3F800000) -> 1, 0.0 -> 0; any other value is caught next
        if (bit * _ONE_BITS).tobytes() != (rows if type(rows) is bytes else bits.tobytes()):
            return None  # some value is neither 0.0 nor 1.0
        weights = layout.bit_weights
        assert weights is not None  # a model with a table has them
        return bit.reshape(-1, layout.num_inputs) @ weights


def _from_parts(
    params: bytes, shapes: tuple[tuple[int, int], ...], activation: str, table: bytes | None
) -> CompiledModel:
    """A CompiledModel from the buffers __reduce__ gives (our own worker's, never a client's)."""
    model = CompiledModel.__new__(CompiledModel)
    model.params = array("f", params)
    model.layout = layout(shapes)
    model.activation = activation
    model._safe = None
    model._table = None
    if table is not None:
        buffer = np.frombuffer(table, dtype=np.uint8)
        size = 4 << model.layout.num_inputs
        model._table = buffer[:size].view(_F4), buffer[size:]
    return model
