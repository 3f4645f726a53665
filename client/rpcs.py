"""The one table of RPCs that Client and AsyncClient call: method, parser, retry and route."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from . import chunks
from .family import Family, family_event
from .results import (
    ModelInfo,
    Prediction,
    Weights,
    deleted_id,
    event_result,
    health_status,
    model_page,
)

Res = TypeVar("Res")
Out = TypeVar("Out")
Metadata = tuple[tuple[str, str], ...]

# Replicas sit behind a consistent hash on this header, so one model stays hot on one replica.
ROUTING_HEADER = "x-model-id"
# Ids are 32 characters and names at most 200: a longer reference names no model, and as a
# header it could pass gRPC's metadata limit, so it goes without (the server says NOT_FOUND).
ROUTING_MAX = 256


class _Addressed(Protocol):
    model: str  # the model id or name a request is addressed to


def _model(request: _Addressed) -> str:
    return request.model


@dataclass(frozen=True)
class Rpc(Generic[Res, Out]):
    """One RPC as the clients call it."""

    service: str  # "gate" (gatenet.v1.GateService) or "health" (grpc.health.v1.Health)
    method: str  # the stub's method name
    parse: Callable[[Res], Out]  # the typed result (of each event, for a stream)
    idempotent: bool  # safe to repeat, so retried on UNAVAILABLE
    route: Callable[[Any], str] | None = None  # the routing key of calls addressed to one model
    # A stream's last event: the client reads the call's status before handing it over, so a
    # caller that stops there (as it naturally does) leaves a call that ended OK, not CANCELLED.
    last: Callable[[Out], bool] | None = None
    streams: str = ""  # "request" or "response": that side is a stream (of Chunk messages)

    def metadata(self, request: Any, base: Metadata) -> Metadata:
        """The call's metadata: base (the token), plus the routing header if addressed."""
        key = None if self.route is None else self.route(request)
        if key is None or len(key) > ROUTING_MAX or not (key.isascii() and key.isprintable()):
            return base
        return (*base, (ROUTING_HEADER, key))


AnyRpc = Rpc[Any, Any]

TRAIN = Rpc("gate", "Train", ModelInfo.from_proto, idempotent=False)
TRAIN_STREAM = Rpc(
    "gate",
    "TrainStream",
    event_result,
    idempotent=False,
    last=lambda event: isinstance(event, ModelInfo),
)
PREDICT = Rpc("gate", "Predict", Prediction.from_proto, True, _model)
GET_WEIGHTS = Rpc("gate", "GetWeights", Weights.from_proto, True, _model)
LIST_MODELS = Rpc("gate", "ListModels", model_page, idempotent=True)
GET_MODEL = Rpc("gate", "GetModel", ModelInfo.from_proto, True, _model)
DELETE_MODEL = Rpc("gate", "DeleteModel", deleted_id, False, _model)
IMPORT_MODEL = Rpc("gate", "ImportModel", ModelInfo.from_proto, idempotent=False)
# The same two for models and files past the message limit, in chunks (chunks.py).
GET_WEIGHTS_CHUNKED = Rpc(
    "gate", "GetWeightsChunked", chunks.weights_result, True, _model, streams="response"
)
IMPORT_MODEL_CHUNKED = Rpc(
    "gate", "ImportModelChunked", ModelInfo.from_proto, False, streams="request"
)
HEALTH = Rpc("health", "Check", health_status, idempotent=True)
GET_FAMILY = Rpc("gate", "GetFamily", Family.from_proto, True, _model)
TRAIN_FAMILY = Rpc(
    "gate",
    "TrainFamily",
    family_event,
    idempotent=False,
    last=lambda event: isinstance(event, Family),
)
