"""Request messages from plain Python values; shared by Client, AsyncClient and the CLI."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict, cast

import numpy as np
from grpc_health.v1 import health_pb2

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary.enums import enum_value
from gatenet.vocabulary.wire import VARINT, length_delimited, tag, varint

from .export.model_files import Source, import_payload


class Identified(Protocol):
    """Anything that names a model by its id: ModelInfo, Weights, Prediction."""

    @property
    def model_id(self) -> str: ...


ModelRef = str | Identified  # a model id or name, or a result that carries its id


class TrainOptions(TypedDict, total=False):
    """Keyword arguments of build_train_request (and of Client.train / train_stream)."""

    gate: str | None
    num_inputs: int
    truth_table: Sequence[int] | None
    examples: tuple[Any, Any] | None
    hidden_sizes: Sequence[int] | None
    activation: str | None
    method: str | None
    loss: str | None
    reduction: str | None
    optimizer: str | None
    learning_rate: float | None
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
    row_order: Sequence[int] | None
    curve_points: int | None
    name: str
    learning_rate_scale: Mapping[str, float] | None  # tensor name -> lr factor (0 = frozen)
    hidden: Sequence[int] | None  # deprecated: hidden_sizes
    lr: float | None  # deprecated: learning_rate


def _renamed(old: str, old_value: Any, new: str, value: Any) -> Any:
    """The value of a keyword given by its old name (with a DeprecationWarning) or its new."""
    if old_value is None:
        return value
    if value is not None:
        raise ValueError(f"give {new}, not both {old} and {new}")
    warnings.warn(
        f"{old}= is deprecated; use {new}= (the proto's name)", DeprecationWarning, stacklevel=5
    )
    return old_value


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


def _task(
    request: pb.TrainRequest,
    gate: str | None,
    num_inputs: int,
    truth_table: Sequence[int] | None,
    examples: tuple[Any, Any] | None,
) -> None:
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
    elif examples is not None:
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
    hidden_sizes: Sequence[int] | None = None,
    activation: str | None = None,
    method: str | None = None,
    loss: str | None = None,
    reduction: str | None = None,
    optimizer: str | None = None,
    learning_rate: float | None = None,
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
    row_order: Sequence[int] | None = None,
    curve_points: int | None = None,
    name: str = "",
    learning_rate_scale: Mapping[str, float] | None = None,
    hidden: Sequence[int] | None = None,
    lr: float | None = None,
) -> pb.TrainRequest:
    """Build a TrainRequest; None leaves a field to the server default. Raises ValueError.

    Keywords are the proto's field names; `hidden` and `lr` are deprecated old names."""
    hidden_sizes = _renamed("hidden", hidden, "hidden_sizes", hidden_sizes)
    learning_rate = _renamed("lr", lr, "learning_rate", learning_rate)
    request = pb.TrainRequest(name=name or "")
    _task(request, gate, num_inputs, truth_table, examples)
    if hidden_sizes is not None:  # None leaves hidden_sizes empty: the server's default widths
        for i, size in enumerate(hidden_sizes):
            option = f"hidden_sizes[{i}]"
            _set(request.network, "hidden_sizes", option, _uint(option, size))
        if not hidden_sizes:
            request.network.no_hidden_layers = True
    if activation is not None:
        request.network.activation = cast(pb.Activation, enum_value("activation", activation))
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
    for option, field, number in (
        ("learning_rate", "learning_rate", learning_rate),
        ("momentum", "momentum", momentum),
        ("margin", "margin", margin),
    ):
        if number is not None:
            setattr(request, field, _float(option, number))
    for option, count in (
        ("batch_size", batch_size),
        ("steps", steps),
        ("seed", seed),
        ("restarts", restarts),
        ("check_every", check_every),
        ("curve_points", curve_points),
    ):
        if count is not None:
            _set(request, option, option, _uint(option, count))
    for i, row in enumerate(row_order or ()):
        _set(request, "row_order", f"row_order[{i}]", _uint(f"row_order[{i}]", row))
    if early_stop is not None:
        request.early_stop = bool(early_stop)
    for key, value in (initial_weights or {}).items():
        request.initial_weights.append(tensor(key, value))
    for key, factor in (learning_rate_scale or {}).items():
        request.learning_rate_scale[str(key)] = _float(f"learning_rate_scale[{key!r}]", factor)
    return request


def model_ref(model: ModelRef) -> str:
    """A model id or name from a string or anything with a model_id (ModelInfo, Weights...)."""
    return model if isinstance(model, str) else str(model.model_id)


def predict_request(model: ModelRef, rows: Any) -> pb.PredictRequest:
    """A PredictRequest with the rows packed row-major as float32.

    The packed rows are written as the bytes they are on the wire and parsed by protobuf:
    a Python float per value (`tolist`) took ~110 ms per million values, this ~10 ms.
    """
    matrix = _matrix("rows", rows)
    values = np.ascontiguousarray(matrix, dtype="<f4").tobytes()
    wire = length_delimited(1, model_ref(model).encode()) + length_delimited(2, values)
    wire += tag(3, VARINT) + varint(matrix.shape[1])  # num_features
    return pb.PredictRequest.FromString(wire)


def weights_request(model: ModelRef, *, safetensors: bool = False) -> pb.GetWeightsRequest:
    """A GetWeightsRequest, asking for the safetensors blob too if safetensors."""
    return pb.GetWeightsRequest(model=model_ref(model), include_safetensors=safetensors)


def list_request(*, name_prefix: str = "", page_size: int = 0) -> pb.ListModelsRequest:
    """The first ListModelsRequest of a listing."""
    return pb.ListModelsRequest(name_prefix=name_prefix, page_size=_uint("page_size", page_size))


def get_model_request(model: ModelRef) -> pb.GetModelRequest:
    """A GetModelRequest by id, name or result."""
    return pb.GetModelRequest(model=model_ref(model))


def delete_request(model: ModelRef) -> pb.DeleteModelRequest:
    """A DeleteModelRequest by id, name or result."""
    return pb.DeleteModelRequest(model=model_ref(model))


def import_request(source: Source, *, name: str | None = None) -> pb.ImportModelRequest:
    """An ImportModelRequest from a safetensors or weights-JSON file (a path or its contents)."""
    payload = import_payload(source)
    request = pb.ImportModelRequest(name=name or "")
    if isinstance(payload, bytes):
        request.safetensors = payload
    else:
        request.json = payload
    return request


def health_request(service: str = "") -> health_pb2.HealthCheckRequest:
    """A grpc.health.v1 HealthCheckRequest ("" = the whole server)."""
    return health_pb2.HealthCheckRequest(service=service)
