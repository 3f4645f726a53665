"""Typed, immutable results of client calls, each with to_dict() for JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2

from gatenet.v1 import gatenet_pb2 as pb

from . import layers
from .errors import MissingExtra

_INT64 = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)
# ModelInfo's flat copy of TrainSummary: read off the proto, so a field is named once per side.
SUMMARY_FIELDS = tuple(f.name for f in pb.TrainSummary.DESCRIPTOR.fields)
# What an import measures on the task's rows; the rest only a training knows.
MEASURED_FIELDS = ("fit", "accuracy", "final_loss", "margin_reached", "measured")
TORCH_HINT = "Weights.to_torch needs torch: pip install 'gatenet[torch]'"
ONNX_HINT = "Weights.to_onnx needs onnx: pip install 'gatenet[onnx]'"


def finite(value: Any) -> Any:
    """value with NaN/Infinity (not JSON) as None, so a diverged loss prints as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def json_text(data: dict[str, Any]) -> str:
    """One line of strict JSON (what --json prints)."""
    return json.dumps(finite(data))


def spec_dict(spec: pb.TrainRequest) -> dict[str, Any]:
    """The resolved spec as a plain dict with the proto's snake_case field names."""
    data = MessageToDict(spec, preserving_proto_field_name=True)
    for f in spec.DESCRIPTOR.fields:  # proto3 JSON writes 64-bit ints as strings; undo that
        if f.cpp_type in _INT64 and f.name in data:
            data[f.name] = int(data[f.name])
    return data


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its id, name, training summary, loss curve and resolved spec.

    A summary field is None when unknown: an imported model whose file carried no summary
    has none at all, or, when the file named its task, only what the server measured on the
    task's rows (fit, accuracy, final_loss, margin_reached; `measured` is then True).
    """

    model_id: str
    name: str
    num_inputs: int
    fit: bool | None
    accuracy: float | None
    final_loss: float | None
    steps: int | None
    restarts: int | None
    restart_index: int | None
    restarts_fit: int | None
    seed_used: int | None
    margin_reached: float | None
    train_seconds: float | None
    stopped_by: str  # "early_stop" (a restart fit), "steps" (budget spent), "time" (the cap)
    measured: bool = False  # fit, accuracy, loss and margin measured at import, not trained
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    created_at: float = 0.0  # unix seconds
    spec: dict[str, Any] = field(default_factory=dict)
    imported_from: str = ""  # ImportModel: the original model's id, when its file named one
    damage: str = ""  # ListModels: why the stored record is unreadable ("" for a sound one)
    # A family (TrainFamily): its counts and capacity table (functions, fit, fit_by_width...);
    # its members are models of their own, NAME/TABLE. None for a model.
    family: dict[str, Any] | None = None

    @classmethod
    def from_proto(cls, info: pb.ModelInfo) -> ModelInfo:
        """Build from a ModelInfo message."""
        summary = info.summary
        known: tuple[str, ...] = ()  # no summary: nothing known
        if info.HasField("summary"):
            known = MEASURED_FIELDS if summary.measured else SUMMARY_FIELDS
        values: dict[str, Any] = {
            name: getattr(summary, name) if name in known else None for name in SUMMARY_FIELDS
        }
        values["stopped_by"] = values["stopped_by"] or ""
        values["measured"] = bool(values["measured"])
        return cls(
            model_id=info.model_id,
            name=info.name,
            num_inputs=info.num_inputs,
            loss_curve=[(p.step, p.loss) for p in info.loss_curve],
            created_at=info.created_at,
            spec=spec_dict(info.spec),
            imported_from=info.imported_from,
            damage=info.damage,
            family=(
                MessageToDict(info.family, preserving_proto_field_name=True)
                if info.HasField("family")
                else None
            ),
            **values,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        data = asdict(self)
        data["loss_curve"] = [list(point) for point in self.loss_curve]
        return data


@dataclass(frozen=True)
class Progress:
    """A training progress event from train_stream."""

    step: int
    best_loss: float
    best_accuracy: float
    restarts_fit: int
    restarts: int

    @classmethod
    def from_proto(cls, progress: pb.TrainProgress) -> Progress:
        """Build from a TrainProgress message."""
        return cls(
            step=progress.step,
            best_loss=progress.best_loss,
            best_accuracy=progress.best_accuracy,
            restarts_fit=progress.restarts_fit,
            restarts=progress.restarts,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


# eq=False: numpy arrays have no single truth value, so field-wise == would raise.
@dataclass(frozen=True, eq=False)
class Prediction:
    """One probability (float32) and one 0/1 label per input row."""

    model_id: str
    probabilities: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_proto(cls, response: pb.PredictResponse) -> Prediction:
        """Build from a PredictResponse message."""
        return cls(
            model_id=response.model_id,
            probabilities=np.asarray(response.probabilities, dtype=np.float32),
            labels=np.asarray(response.labels, dtype=np.int64),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: model_id, probabilities and labels as lists."""
        return {
            "model_id": self.model_id,
            "probabilities": self.probabilities.tolist(),
            "labels": self.labels.tolist(),
        }


@dataclass(frozen=True, eq=False)
class Weights:
    """A model's parameters as float32 arrays ([fan_in, fan_out] weights, used as x @ W)."""

    model_id: str
    tensors: dict[str, np.ndarray]
    spec: dict[str, Any]
    safetensors: bytes = b""

    @classmethod
    def from_proto(cls, response: pb.GetWeightsResponse) -> Weights:
        """Build from a GetWeightsResponse message."""
        tensors = {
            t.name: np.asarray(t.values, dtype=np.float32).reshape(tuple(t.shape))
            for t in response.tensors
        }
        return cls(response.model_id, tensors, spec_dict(response.spec), response.safetensors)

    @property
    def activation(self) -> str:
        """The hidden layers' activation: "sigmoid", "tanh" or "relu"."""
        return layers.activation(self.spec)

    def to_dict(self) -> dict[str, Any]:
        """What `gatenet weights --json` prints and ImportModel reads back."""
        return {
            "model_id": self.model_id,
            "activation": self.activation,
            "spec": self.spec,
            "tensors": {
                name: {"shape": list(array.shape), "values": array.ravel().tolist()}
                for name, array in self.tensors.items()
            },
        }

    def to_torch(self) -> Any:
        """Rebuild the network as a torch.nn.Sequential (needs gatenet[torch])."""
        try:  # imported here so that torch stays out of `import gatenet.client`
            from .export.torch_export import to_sequential
        except ImportError as err:
            if err.name != "torch":
                raise
            raise MissingExtra(TORCH_HINT, name="torch") from None
        return to_sequential(self.tensors, self.spec)

    def to_onnx(self) -> Any:
        """The network as a checked onnx.ModelProto (needs gatenet[onnx]); see onnx_export."""
        try:
            from .export.onnx_export import to_onnx
        except ImportError as err:
            if err.name != "onnx":
                raise
            raise MissingExtra(ONNX_HINT, name="onnx") from None
        return to_onnx(self.tensors, self.activation, model_id=self.model_id)


def event_result(event: pb.TrainEvent) -> Progress | ModelInfo:
    """A TrainEvent as Progress or, for the last one, ModelInfo."""
    if event.WhichOneof("event") == "model":
        return ModelInfo.from_proto(event.model)
    return Progress.from_proto(event.progress)


def model_page(response: pb.ListModelsResponse) -> tuple[list[ModelInfo], str]:
    """One page of a listing: its models and the token of the next page ("" = the last)."""
    return [ModelInfo.from_proto(m) for m in response.models], response.next_page_token


def deleted_id(response: pb.DeleteModelResponse) -> str:
    """The id of the model DeleteModel removed."""
    return response.model_id


def health_status(response: health_pb2.HealthCheckResponse) -> str:
    """The status name of a health check response: "SERVING", "NOT_SERVING"..."""
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
