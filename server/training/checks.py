"""Field validators for resolve(): each returns the checked value or raises InvalidArgument."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gatenet.server.errors import InvalidArgument, clip
from gatenet.server.training.shapes import Shape, parameter_names, parameter_shapes
from gatenet.server.training.spec import Limits


def hidden_sizes(sizes: Sequence[int], limits: Limits) -> tuple[int, ...]:
    """Hidden layer widths: at most max_hidden_layers layers of 1..max_hidden_size units."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) > limits.max_hidden_layers:
        raise InvalidArgument(
            "network.hidden_sizes",
            f"{len(sizes)} layers exceed the limit {limits.max_hidden_layers}",
        )
    for i, size in enumerate(sizes):
        if size < 1:
            raise InvalidArgument(f"network.hidden_sizes[{i}]", f"{size} is below the minimum 1")
        if size > limits.max_hidden_size:
            raise InvalidArgument(
                f"network.hidden_sizes[{i}]", f"{size} exceeds the limit {limits.max_hidden_size}"
            )
    return sizes


def learning_rate(value: float | None, default: float, limits: Limits) -> float:
    """A finite learning rate in (0, max_learning_rate]."""
    if value is None:
        return default
    lr = float(value)
    if not math.isfinite(lr) or lr <= 0.0:
        raise InvalidArgument("learning_rate", f"{lr} is not a positive finite number")
    if lr > limits.max_learning_rate:
        raise InvalidArgument("learning_rate", f"{lr} exceeds the limit {limits.max_learning_rate}")
    return lr


def momentum(value: float | None, optimizer: str) -> float:
    """SGD momentum in [0, 1); Adam takes none."""
    if value is None:
        return 0.0
    m = float(value)
    if not (math.isfinite(m) and 0.0 <= m < 1.0):
        raise InvalidArgument("momentum", f"{m} is outside [0, 1)")
    if m and optimizer != "sgd":
        raise InvalidArgument("momentum", f"{m} given; momentum applies to optimizer sgd only")
    return m


def batch_size(value: int | None, schedule: str, rows: int, default: int, limit: int) -> int:
    """Rows per step: all rows (full batch), 1 (online) or 1..rows (mini-batch)."""
    natural = {"full_batch": rows, "online": 1}.get(schedule)
    if value is None:
        return natural if natural is not None else min(default, rows)
    size = int(value)
    if natural is not None and size != natural:
        raise InvalidArgument(
            "batch_size", f"{size} given; schedule {schedule} uses {natural} rows per step"
        )
    if size > limit:
        raise InvalidArgument("batch_size", f"{size} exceeds the limit {limit}")
    if not 1 <= size <= rows:
        raise InvalidArgument("batch_size", f"{size} is outside 1..{rows} (the dataset's rows)")
    return size


def count(field: str, value: int | None, default: int, limit: int) -> int:
    """A positive integer up to its limit."""
    if value is None:
        return default
    n = int(value)
    if n < 1:
        raise InvalidArgument(field, f"{n} is below the minimum 1")
    if n > limit:
        raise InvalidArgument(field, f"{n} exceeds the limit {limit}")
    return n


def row_order(
    given: Sequence[int] | None, schedule: str, rows: int, limit: int
) -> tuple[int, ...] | None:
    """An explicit row order: indices of the dataset's rows, for a schedule that samples."""
    if not given:
        return None
    if schedule == "full_batch":
        raise InvalidArgument("row_order", "is for the online and mini_batch schedules only")
    if len(given) > limit:
        raise InvalidArgument("row_order", f"{len(given)} entries exceeds the limit {limit}")
    for i, row in enumerate(given):
        if not 0 <= row < rows:
            raise InvalidArgument(f"row_order[{i}]", f"{row} is outside 0..{rows - 1}")
    return tuple(int(row) for row in given)


def initial_weights(
    given: Mapping[str, np.ndarray] | None, shapes: Sequence[Shape]
) -> dict[str, np.ndarray] | None:
    """Every layer's weight and bias, with the network's shapes and finite values, as float32."""
    if given is None:
        return None
    expected = parameter_shapes(shapes)
    names = parameter_names(shapes)
    for name in given:
        if name not in expected:
            raise InvalidArgument(
                f"initial_weights[{clip(name, 40)}]",
                f"is not a parameter; expected {', '.join(names)}",
            )
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in given:
            raise InvalidArgument(
                "initial_weights", f"{name} is missing; expected {', '.join(names)}"
            )
        try:
            with np.errstate(over="ignore"):
                arr = np.asarray(given[name], dtype=np.float64).astype(np.float32)
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"initial_weights[{clip(name, 40)}]", "is not a numeric array"
            ) from None
        if arr.shape != expected[name]:
            raise InvalidArgument(
                f"initial_weights[{clip(name, 40)}]",
                f"shape {list(arr.shape)} does not match the network's {list(expected[name])}",
            )
        if not np.isfinite(arr).all():
            raise InvalidArgument(f"initial_weights[{clip(name, 40)}]", "contains NaN or Inf")
        out[name] = np.ascontiguousarray(arr)
    return out


def learning_rate_scale(
    scales: Mapping[str, float] | None, shapes: Sequence[Shape], lr: float, limits: Limits
) -> dict[str, float] | None:
    """Per-tensor learning-rate factors: known parameter names, finite, >= 0, lr x factor within
    max_learning_rate; in parameter order. None (or empty) = every factor 1."""
    if not scales:
        return None
    names = parameter_names(shapes)
    for name, factor in scales.items():
        field = f"learning_rate_scale[{clip(name)!r}]"
        if name not in names:
            raise InvalidArgument(field, f"names no parameter; the network has {', '.join(names)}")
        value = float(factor)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(field, f"{value} is not a finite factor >= 0")
        if lr * value > limits.max_learning_rate:
            raise InvalidArgument(
                field,
                f"learning_rate x {value:g} = {lr * value:g} exceeds the limit "
                f"{limits.max_learning_rate:g}",
            )
    return {name: float(scales[name]) for name in names if name in scales}
