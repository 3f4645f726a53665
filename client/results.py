"""Typed, immutable results of client calls, each with to_dict() for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict

from gatenet.v1 import gatenet_pb2 as pb

_INT64 = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)


def spec_dict(spec: pb.TrainRequest) -> dict[str, Any]:
    """The resolved spec as a plain dict with the proto's snake_case field names."""
    data = MessageToDict(spec, preserving_proto_field_name=True)
    for f in spec.DESCRIPTOR.fields:  # proto3 JSON writes 64-bit ints as strings; undo that
        if f.cpp_type in _INT64 and f.name in data:
            data[f.name] = int(data[f.name])
    return data


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its id, name, training summary, loss curve and resolved spec."""

    model_id: str
    name: str
    num_inputs: int
    fit: bool
    accuracy: float
    final_loss: float
    steps: int
    restarts: int
    restart_index: int
    restarts_fit: int
    seed_used: int
    margin_reached: float
    train_seconds: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    created_at: float = 0.0  # unix seconds
    spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, info: pb.ModelInfo) -> ModelInfo:
        """Build from a ModelInfo message."""
        s = info.summary
        return cls(
            model_id=info.model_id,
            name=info.name,
            num_inputs=info.num_inputs,
            fit=s.fit,
            accuracy=s.accuracy,
            final_loss=s.final_loss,
            steps=s.steps,
            restarts=s.restarts,
            restart_index=s.restart_index,
            restarts_fit=s.restarts_fit,
            seed_used=s.seed_used,
            margin_reached=s.margin_reached,
            train_seconds=s.train_seconds,
            loss_curve=[(p.step, p.loss) for p in info.loss_curve],
            created_at=info.created_at,
            spec=spec_dict(info.spec),
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: tensors as {name: {shape, values (flat, row-major)}}."""
        return {
            "model_id": self.model_id,
            "tensors": {
                name: {"shape": list(array.shape), "values": array.ravel().tolist()}
                for name, array in self.tensors.items()
            },
            "spec": self.spec,
        }

    def to_torch(self) -> Any:
        """Rebuild the network as a torch.nn.Sequential (needs torch installed)."""
        from .torch_export import to_sequential  # torch stays out of `import gatenet.client`

        return to_sequential(self.tensors, self.spec)
