"""Request messages from plain Python values; shared by Client, AsyncClient and the CLI."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from gatenet.v1 import gatenet_pb2 as pb

from .options import enum_value

# The proto cannot say "default hidden sizes, but this activation": a set Network with no
# hidden_sizes means "no hidden layer". So an activation alone carries the documented default.


class TrainOptions(TypedDict, total=False):
    """Keyword arguments of build_train_request (and of Client.train / train_stream)."""

    gate: str | None
    num_inputs: int
    truth_table: Sequence[int] | None
    examples: tuple[Any, Any] | None
    hidden: Sequence[int] | None
    activation: str | None
    method: str | None
    loss: str | None
    reduction: str | None
    optimizer: str | None
    lr: float | None
    momentum: float | None
    schedule: str | None
    batch_size: int | None
    steps: int | None
    init: str | None
    initial_weights: Mapping[str, Any] | None
    seed: int | None
    early_stop: bool | None
    margin: float | None
    restarts: int | None
    check_every: int | None
    name: str


def _uint(option: str, value: Any) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{option}: {value!r} is not an integer") from None
    if number < 0:
        raise ValueError(f"{option}: {number} is negative")
    return number


def _set(message: Any, field: str, option: str, value: int) -> None:
    """Set (or append to) an integer field, naming the option if the value overflows it."""
    try:
        target = getattr(message, field)
        if isinstance(target, int):
            setattr(message, field, value)
        else:
            target.append(value)
    except ValueError:
        raise ValueError(f"{option}: {value} is too large") from None


def _float(option: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{option}: {value!r} is not a number") from None


def _matrix(option: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{option}: not a numeric array ({err})") from None
    if array.ndim != 2:
        raise ValueError(f"{option}: expected 2-D rows x features, got shape {array.shape}")
    return array


def _task(request: pb.TrainRequest, gate, num_inputs, truth_table, examples) -> None:
    given = [
        k
        for k, v in (("gate", gate), ("truth_table", truth_table), ("examples", examples))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of gate, truth_table, examples (got {given or 'none'})")
    num_inputs = _uint("num_inputs", num_inputs)
    if gate is not None:
        request.gate.name = str(gate)
        _set(request.gate, "num_inputs", "num_inputs", num_inputs)
    elif truth_table is not None:
        outputs = [_uint(f"truth_table[{i}]", v) for i, v in enumerate(truth_table)]
        n = len(outputs).bit_length() - 1
        if len(outputs) < 2 or len(outputs) != 1 << n:
            raise ValueError(f"truth_table: length {len(outputs)} is not 2^n for some n >= 1")
        if num_inputs and num_inputs != n:
            raise ValueError(f"num_inputs: {num_inputs} but the truth table has {n} inputs")
        if bad := [i for i, v in enumerate(outputs) if v > 1]:
            raise ValueError(f"truth_table[{bad[0]}] = {outputs[bad[0]]} is not 0 or 1")
        request.truth_table.num_inputs = n
        request.truth_table.outputs.extend(outputs)
    else:
        inputs, targets = examples
        rows = _matrix("examples inputs", inputs)
        y = np.asarray(targets, dtype=np.float32)
        if y.shape != (rows.shape[0],):
            raise ValueError(f"examples: {rows.shape[0]} rows but targets have shape {y.shape}")
        if num_inputs and num_inputs != rows.shape[1]:
            raise ValueError(f"num_inputs: {num_inputs} but the examples have {rows.shape[1]}")
        request.examples.num_inputs = rows.shape[1]
        request.examples.inputs.extend(rows.ravel().tolist())
        request.examples.targets.extend(y.tolist())


def tensor(name: str, value: Any) -> pb.Tensor:
    """A Tensor message from a name and an array-like (row-major)."""
    array = np.asarray(value, dtype=np.float32)
    return pb.Tensor(name=name, shape=list(array.shape), values=array.ravel().tolist())


def build_train_request(
    *,
    gate: str | None = None,
    num_inputs: int = 0,
    truth_table: Sequence[int] | None = None,
    examples: tuple[Any, Any] | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | None = None,
    method: str | None = None,
    loss: str | None = None,
    reduction: str | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    schedule: str | None = None,
    batch_size: int | None = None,
    steps: int | None = None,
    init: str | None = None,
    initial_weights: Mapping[str, Any] | None = None,
    seed: int | None = None,
    early_stop: bool | None = None,
    margin: float | None = None,
    restarts: int | None = None,
    check_every: int | None = None,
    name: str = "",
) -> pb.TrainRequest:
    """Build a TrainRequest; None leaves a field to the server default. Raises ValueError."""
    request = pb.TrainRequest(name=name or "")
    _task(request, gate, num_inputs, truth_table, examples)
    if hidden is not None:
        for i, size in enumerate(hidden):
            _set(request.network, "hidden_sizes", f"hidden[{i}]", _uint(f"hidden[{i}]", size))
        request.network.no_hidden_layers = not hidden
    if activation is not None:
        request.network.activation = enum_value("activation", activation)
    for option, value in (
        ("method", method),
        ("loss", loss),
        ("reduction", reduction),
        ("optimizer", optimizer),
        ("schedule", schedule),
        ("init", init),
    ):
        if value is not None:
            setattr(request, option, enum_value(option, value))
    for option, field, value in (
        ("lr", "learning_rate", lr),
        ("momentum", "momentum", momentum),
        ("margin", "margin", margin),
    ):
        if value is not None:
            setattr(request, field, _float(option, value))
    for option, value in (
        ("batch_size", batch_size),
        ("steps", steps),
        ("seed", seed),
        ("restarts", restarts),
        ("check_every", check_every),
    ):
        if value is not None:
            _set(request, option, option, _uint(option, value))
    if early_stop is not None:
        request.early_stop = bool(early_stop)
    for key, value in (initial_weights or {}).items():
        request.initial_weights.append(tensor(key, value))
    return request


def model_ref(model: Any) -> str:
    """A model id or name from a string or anything with a model_id (ModelInfo, Weights...)."""
    return model if isinstance(model, str) else str(model.model_id)


def predict_request(model: Any, rows: Any) -> pb.PredictRequest:
    """A PredictRequest with the rows packed row-major as float32."""
    matrix = _matrix("rows", rows)
    return pb.PredictRequest(
        model=model_ref(model), inputs=matrix.ravel().tolist(), num_features=matrix.shape[1]
    )
