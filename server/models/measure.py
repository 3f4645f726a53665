"""How a model does on its task's rows, with numpy: the trainer's fit check without torch.

ImportModel measures a file that names its task but carries no summary. The
serving process never imports torch, so this repeats training/evaluate.py's
definitions (fit with the margin, accuracy at 0.5, the spec's loss) in numpy,
in float64: it agrees with a trained model's summary to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gatenet.vocabulary.layers import bias_name, weight_name

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: 0.5 + 0.5 * np.tanh(0.5 * z),  # no overflow for any finite z
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


@dataclass(frozen=True)
class Measured:
    """A model's fit check on rows (the measured fields of gatenet.v1.TrainSummary)."""

    fit: bool  # every row right with the margin
    accuracy: float  # fraction of rows with (p > 0.5) == label
    final_loss: float  # the spec's loss and reduction over all rows (errors for a perceptron)
    margin_reached: float  # min over rows of the signed distance of p from 0.5


def logits(weights: dict[str, np.ndarray], activation: str, x: np.ndarray) -> np.ndarray:
    """The output layer's pre-sigmoid values [rows] of layers.0.weight [in, out], ..."""
    layers = len(weights) // 2
    h = x.astype(np.float64)
    for i in range(layers):
        z = h @ weights[weight_name(i)].astype(np.float64)
        z += weights[bias_name(i)].astype(np.float64)
        h = _ACTIVATIONS[activation](z) if i < layers - 1 else z
    return np.asarray(h[:, 0])


def measure(
    weights: dict[str, np.ndarray],
    activation: str,
    rows: tuple[np.ndarray, np.ndarray],
    *,
    loss: str,
    reduction: str,
    margin: float,
    perceptron: bool,
) -> Measured:
    """Fit, accuracy, loss and margin of a model on (inputs [n, k], 0/1 targets [n])."""
    inputs, targets = rows
    with np.errstate(over="ignore", invalid="ignore"):
        z = logits(weights, activation, inputs)
        y = targets.astype(np.float64)
        positive = y > 0.5
        p = 0.5 + 0.5 * np.tanh(0.5 * z)
        signed = (p - 0.5) * (2 * y - 1)
        if margin > 0:
            rows_ok = signed >= margin
        else:  # p = 0.5 exactly is label 0 when served (label = p > 0.5)
            rows_ok = (signed > 0) | ((signed == 0) & ~positive)
        if perceptron:
            per_row = ((z > 0) != positive).astype(np.float64)
        elif loss == "bce":  # from the logits, as torch's binary_cross_entropy_with_logits
            per_row = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:  # mse: (p - y)^2, as torch's MSELoss
            per_row = np.square(p - y)
        value = float(per_row.mean() if reduction == "mean" else per_row.sum())
        reached = float(signed.min())
    return Measured(
        fit=bool(rows_ok.all()),
        accuracy=float(((p > 0.5) == positive).mean()),
        final_loss=value if np.isfinite(value) else float("inf"),
        margin_reached=reached if np.isfinite(reached) else -0.5,
    )
