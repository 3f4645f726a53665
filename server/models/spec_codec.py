"""A model's spec as it is sent and stored (a TrainRequest) <-> the training recipe; the
ModelInfo of a trained model.

The stored document holds the ModelInfo (models/document.py), whose spec is a
TrainRequest: the same mapping reads a request, reads a stored or imported spec back,
and writes a recipe out with every default filled in.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from google.protobuf import json_format

from gatenet.server.errors import InvalidArgument
from gatenet.server.training import tasks
from gatenet.server.training.spec import (
    Dataset,
    Limits,
    Recipe,
    TrainResult,
    TrainSpec,
)
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary import enums

_TOP_ENUMS = tuple(name for name in enums.ENUMS if name != "activation")  # TrainRequest's own
_OPTIONAL = (
    "learning_rate",
    "momentum",
    "batch_size",
    "steps",
    "seed",
    "early_stop",
    "margin",
    "restarts",
    "check_every",
    "curve_points",
)
_MAX_TENSOR_DIMS = 2  # parameters are weights [in, out] and biases [out]
# Values converted per C call: a million in one call holds the GIL ~50 ms, which the event
# loop waits out even while the work runs on the codec thread (offload.py).
_SLICE = 4096


def _enum_name(field: str, value: int) -> str | None:
    """Proto enum number -> lower-case domain name; 0 (unspecified) -> None."""
    try:
        return enums.enum_name(field, value) or None
    except ValueError:
        allowed = ", ".join(enums.choices(field))
        raise InvalidArgument(field, f"{value} is not a known value; allowed: {allowed}") from None


def _dataset(request: pb.TrainRequest, limits: Limits) -> Dataset:
    """The training rows the request's task describes."""
    task = request.WhichOneof("task")
    if task == "gate":
        return tasks.gate_task(request.gate.name, request.gate.num_inputs, limits)
    if task == "truth_table":
        table = request.truth_table
        return tasks.truth_table_task(table.num_inputs, list(table.outputs), limits)
    if task == "examples":
        ex = request.examples
        return tasks.examples_task(
            ex.num_inputs,
            np.asarray(ex.inputs, dtype=np.float32),
            np.asarray(ex.targets, dtype=np.float32),
            limits,
        )
    raise InvalidArgument("task", "is missing; set one of gate, truth_table, examples")


def _initial_weights(request: pb.TrainRequest) -> dict[str, np.ndarray] | None:
    if not request.initial_weights:
        return None
    named: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(request.initial_weights):
        field = f"initial_weights[{i}]"
        if tensor.name in named:
            raise InvalidArgument(field, f"name {tensor.name[:100]!r} appears twice")
        if len(tensor.shape) > _MAX_TENSOR_DIMS:
            raise InvalidArgument(
                f"{field}.shape", f"{len(tensor.shape)} dimensions exceeds {_MAX_TENSOR_DIMS}"
            )
        shape = tuple(int(d) for d in tensor.shape)
        size = math.prod(shape)
        if size != len(tensor.values):
            raise InvalidArgument(
                field, f"shape {list(shape)} needs {size} values, got {len(tensor.values)}"
            )
        named[tensor.name] = np.asarray(tensor.values, dtype=np.float32).reshape(shape)
    return named


def spec_from_request(request: pb.TrainRequest, limits: Limits) -> TrainSpec:
    """The domain spec of a request; None where the request left a default."""
    network = request.network
    if network.no_hidden_layers and network.hidden_sizes:
        raise InvalidArgument(
            "network.no_hidden_layers", "is set while network.hidden_sizes is not empty"
        )
    hidden: tuple[int, ...] | None = None
    if network.hidden_sizes:
        hidden = tuple(int(h) for h in network.hidden_sizes)
    elif network.no_hidden_layers:
        hidden = ()
    fields: dict[str, Any] = {name: _enum_name(name, getattr(request, name)) for name in _TOP_ENUMS}
    fields |= {
        name: getattr(request, name) if request.HasField(name) else None for name in _OPTIONAL
    }
    return TrainSpec(
        dataset=_dataset(request, limits),
        hidden_sizes=hidden,
        activation=_enum_name("activation", network.activation),
        initial_weights=_initial_weights(request),
        row_order=tuple(request.row_order) or None,
        learning_rate_scale=dict(request.learning_rate_scale) or None,
        **fields,
    )


def tensors(weights: dict[str, np.ndarray]) -> list[pb.Tensor]:
    """Named parameter tensors, row-major."""
    out = []
    for name, a in weights.items():
        tensor = pb.Tensor(name=name, shape=list(a.shape))
        _fill(tensor.values, a)
        out.append(tensor)
    return out


def _fill(field: Any, values: np.ndarray) -> None:
    """Append an array's values to a repeated field, row-major, _SLICE values a call."""
    flat = values.ravel()
    for start in range(0, flat.size, _SLICE):
        field.extend(flat[start : start + _SLICE].tolist())


def _task(request: pb.TrainRequest, data: Dataset) -> None:
    """Write the dataset's task into the request."""
    if data.kind == "gate":
        request.gate.name = data.label.upper()
        request.gate.num_inputs = data.num_inputs
    elif data.kind == "truth_table":
        request.truth_table.num_inputs = data.num_inputs
        request.truth_table.outputs[:] = [int(t) for t in data.targets]
    else:
        request.examples.num_inputs = data.num_inputs
        _fill(request.examples.inputs, data.inputs)
        _fill(request.examples.targets, data.targets)


def recipe_request(recipe: Recipe, name: str = "") -> pb.TrainRequest:
    """The TrainRequest that repeats this recipe exactly: every default written out."""
    request = pb.TrainRequest(name=name)
    _task(request, recipe.dataset)
    request.network.hidden_sizes[:] = list(recipe.hidden_sizes)
    request.network.no_hidden_layers = not recipe.hidden_sizes
    request.network.activation = enums.enum_value("activation", recipe.activation)  # type: ignore[assignment]
    for field in _TOP_ENUMS:
        setattr(request, field, enums.enum_value(field, getattr(recipe, field)))
    for field in _OPTIONAL:
        setattr(request, field, getattr(recipe, field))
    if recipe.initial_weights is not None:
        request.initial_weights.extend(tensors(recipe.initial_weights))
    request.row_order[:] = list(recipe.row_order or ())
    request.learning_rate_scale.update(recipe.learning_rate_scale or {})
    return request


def request_heft(request: pb.TrainRequest) -> int:
    """How many values a TrainRequest holds (rows, initial weights, row order): enough of them
    make turning it into a recipe work for the codec thread."""
    values = len(request.examples.inputs) + len(request.truth_table.outputs)
    values += sum(len(tensor.values) for tensor in request.initial_weights)
    return values + len(request.row_order)


def heft(recipe: Recipe) -> int:
    """How many values a recipe's model info writes out (rows, initial weights, row order,
    loss curve): enough of them make describing and storing it work for the codec thread."""
    data = recipe.dataset
    values = 0 if data.kind == "gate" else data.targets.size
    if data.kind == "examples":
        values += data.inputs.size
    values += sum(w.size for w in (recipe.initial_weights or {}).values())
    return values + len(recipe.row_order or ()) + recipe.curve_points


@dataclasses.dataclass(frozen=True)
class Description:
    """What a recipe says of its model before training ends; built while a worker trains, so
    the answer path after training only adds what training produced."""

    recipe: Recipe
    name: str
    spec: pb.TrainRequest  # the resolved spec, every default written out
    spec_json: dict[str, Any]  # the same in the proto3 JSON mapping, for the stored document


def describe(recipe: Recipe, name: str) -> Description:
    """The spec part of the ModelInfo a recipe's model will have."""
    spec = recipe_request(recipe, name)
    return Description(
        recipe, name, spec, json_format.MessageToDict(spec, preserving_proto_field_name=True)
    )


def ran(described: Description, result: TrainResult) -> Description:
    """The description of what ran: a run the time cap stopped records the steps it took, so
    its spec, sent again, trains the same weights."""
    steps = result.summary.steps
    if result.summary.stopped_by != "time" or steps == described.recipe.steps:
        return described
    spec = pb.TrainRequest()
    spec.CopyFrom(described.spec)
    spec.steps = steps
    return dataclasses.replace(
        described,
        recipe=dataclasses.replace(described.recipe, steps=steps),
        spec=spec,
        spec_json={**described.spec_json, "steps": steps},
    )


def model_info(
    model_id: str, created_at: float, described: Description, result: TrainResult
) -> pb.ModelInfo:
    """Everything GetModel will say about a newly trained model."""
    return pb.ModelInfo(
        model_id=model_id,
        name=described.name,
        spec=described.spec,
        summary=pb.TrainSummary(**dataclasses.asdict(result.summary)),
        loss_curve=[pb.LossPoint(step=s, loss=v) for s, v in result.loss_curve],
        num_inputs=described.recipe.dataset.num_inputs,
        created_at=created_at,
    )
