"""Between the wire and the domain: TrainRequest -> TrainSpec, results -> ModelInfo."""

from __future__ import annotations

import math
import time

import numpy as np

from gatenet.server.errors import InvalidArgument
from gatenet.server.training import tasks
from gatenet.server.training.spec import Dataset, Limits, Progress, TrainResult, TrainSpec
from gatenet.v1 import gatenet_pb2 as pb

# (request field, proto enum, value prefix)
_ENUMS = {
    "activation": (pb.Activation, "ACTIVATION_"),
    "method": (pb.Method, "METHOD_"),
    "loss": (pb.Loss, "LOSS_"),
    "reduction": (pb.Reduction, "REDUCTION_"),
    "optimizer": (pb.Optimizer, "OPTIMIZER_"),
    "schedule": (pb.Schedule, "SCHEDULE_"),
    "init": (pb.Init, "INIT_"),
}
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
)


def _enum_name(field: str, value: int) -> str | None:
    """Proto enum number -> lower-case domain name; 0 (unspecified) -> None."""
    if value == 0:
        return None
    enum, prefix = _ENUMS[field]
    try:
        return enum.Name(value)[len(prefix) :].lower()
    except ValueError:
        allowed = ", ".join(n[len(prefix) :].lower() for n in enum.keys()[1:])
        raise InvalidArgument(field, f"{value} is not a known value; allowed: {allowed}") from None


def _enum_value(field: str, name: str) -> int:
    enum, prefix = _ENUMS[field]
    return enum.Value(prefix + name.upper())


def dataset_from_request(request: pb.TrainRequest, limits: Limits) -> Dataset:
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


def _initial_weights(request: pb.TrainRequest, limits: Limits) -> dict[str, np.ndarray] | None:
    if not request.initial_weights:
        return None
    named: dict[str, np.ndarray] = {}
    for tensor in request.initial_weights:
        field = f"initial_weights[{tensor.name}]"
        if tensor.name in named:
            raise InvalidArgument(field, "appears twice")
        shape = tuple(int(d) for d in tensor.shape)
        size = math.prod(shape) if shape else 1
        if size != len(tensor.values):
            raise InvalidArgument(
                field, f"shape {list(shape)} needs {size} values, got {len(tensor.values)}"
            )
        named[tensor.name] = np.asarray(tensor.values, dtype=np.float32).reshape(shape)
    return named


def spec_from_request(request: pb.TrainRequest, limits: Limits) -> TrainSpec:
    """The domain spec of a request; None where the request left a default."""
    has_network = request.HasField("network")
    options = {
        name: getattr(request, name) if request.HasField(name) else None for name in _OPTIONAL
    }
    enums = {
        name: _enum_name(name, getattr(request, name)) for name in _ENUMS if name != "activation"
    }
    return TrainSpec(
        dataset=dataset_from_request(request, limits),
        hidden_sizes=tuple(int(h) for h in request.network.hidden_sizes) if has_network else None,
        activation=_enum_name("activation", request.network.activation) if has_network else None,
        initial_weights=_initial_weights(request, limits),
        **enums,
        **options,
    )


def resolved_request(request: pb.TrainRequest, spec: TrainSpec) -> pb.TrainRequest:
    """The request with every default filled in from the resolved spec (weights omitted)."""
    out = pb.TrainRequest()
    out.CopyFrom(request)
    del out.initial_weights[:]
    out.network.hidden_sizes[:] = list(spec.hidden_sizes or ())
    out.network.activation = _enum_value("activation", spec.activation)
    for name in _ENUMS:
        if name != "activation":
            setattr(out, name, _enum_value(name, getattr(spec, name)))
    for name in _OPTIONAL:
        if getattr(spec, name) is not None:
            setattr(out, name, getattr(spec, name))
    return out


def summary(result: TrainResult) -> pb.TrainSummary:
    """The wire summary of a finished run."""
    return pb.TrainSummary(
        fit=result.fit,
        accuracy=result.accuracy,
        final_loss=result.final_loss,
        steps=result.steps,
        restarts=result.restarts,
        restart_index=result.restart_index,
        restarts_fit=result.restarts_fit,
        seed_used=result.seed_used,
        margin_reached=result.margin_reached,
        train_seconds=result.train_seconds,
    )


def model_info(
    model_id: str, request: pb.TrainRequest, spec: TrainSpec, result: TrainResult
) -> pb.ModelInfo:
    """Everything GetModel will say about a newly trained model."""
    return pb.ModelInfo(
        model_id=model_id,
        name=request.name,
        spec=resolved_request(request, spec),
        summary=summary(result),
        loss_curve=[pb.LossPoint(step=s, loss=v) for s, v in result.loss_curve],
        num_inputs=spec.dataset.num_inputs,
        created_at=time.time(),
    )


def progress_event(progress: Progress) -> pb.TrainEvent:
    """A TrainStream progress event."""
    return pb.TrainEvent(
        progress=pb.TrainProgress(
            step=progress.step,
            best_loss=progress.best_loss,
            best_accuracy=progress.best_accuracy,
            restarts_fit=progress.restarts_fit,
            restarts=progress.restarts,
        )
    )


def tensors(weights: dict[str, np.ndarray]) -> list[pb.Tensor]:
    """Named parameter tensors, row-major."""
    return [
        pb.Tensor(name=name, shape=list(a.shape), values=a.ravel().tolist())
        for name, a in weights.items()
    ]
