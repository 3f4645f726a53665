"""Models held ready for inference: contiguous float32 layers and a numpy forward.

Predicting a small net is a few dozen multiply-adds; numpy on preshaped arrays
costs microseconds where building a torch module per request would cost more
than the RPC itself.
"""

from __future__ import annotations

import numpy as np

from gatenet.server.errors import InvalidArgument


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


def layer_names(count: int) -> list[str]:
    """Tensor names of a network with `count` layers, in order."""
    names = []
    for i in range(count):
        names += [f"layers.{i}.weight", f"layers.{i}.bias"]
    return names


class CompiledModel:
    """A network's layers as (W [in, out], b [out]) float32 pairs plus its hidden activation."""

    __slots__ = ("layers", "activation", "num_inputs")

    def __init__(self, weights: dict[str, np.ndarray], activation: str) -> None:
        layers = []
        i = 0
        while f"layers.{i}.weight" in weights:
            w = np.ascontiguousarray(weights[f"layers.{i}.weight"], dtype=np.float32)
            b = np.ascontiguousarray(weights[f"layers.{i}.bias"], dtype=np.float32)
            layers.append((w, b))
            i += 1
        if not layers:
            raise ValueError("a model needs at least layers.0.weight and layers.0.bias")
        self.layers = tuple(layers)
        self.activation = activation
        self.num_inputs = int(layers[0][0].shape[0])

    def weights(self) -> dict[str, np.ndarray]:
        """The layers by tensor name."""
        named = {}
        for i, (w, b) in enumerate(self.layers):
            named[f"layers.{i}.weight"] = w
            named[f"layers.{i}.bias"] = b
        return named

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) for each row of x [rows, num_inputs] float32."""
        act = _ACTIVATIONS[self.activation]
        h = x
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            z = h @ w
            z += b
            h = _sigmoid_(z) if i == last else act(z)
        return h[:, 0]


def parse_rows(values: object, num_features: int, model_inputs: int, max_rows: int) -> np.ndarray:
    """Turn Predict's packed row-major floats into a checked [rows, features] float32 array."""
    x = np.asarray(values, dtype=np.float32)
    if x.size == 0:
        raise InvalidArgument("inputs", "is empty; send at least one row")
    if num_features and num_features != model_inputs:
        raise InvalidArgument(
            "num_features", f"{num_features} does not match the model's {model_inputs} inputs"
        )
    if x.size % model_inputs:
        raise InvalidArgument(
            "inputs",
            f"{x.size} values is not a multiple of the model's {model_inputs} inputs per row",
        )
    rows = x.size // model_inputs
    if rows > max_rows:
        raise InvalidArgument("inputs", f"{rows} rows exceeds the limit {max_rows}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise InvalidArgument("inputs", f"value {bad} is {x[bad]}; inputs must be finite")
    return x.reshape(rows, model_inputs)
