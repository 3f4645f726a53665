"""The one table of RPCs that Client and AsyncClient call: request, parser, retry and route."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from . import chunks
from .messages import (
    build_train_request,
    delete_request,
    get_model_request,
    health_request,
    import_request,
    list_request,
    predict_request,
    weights_request,
)
from .results import (
    ModelInfo,
    Prediction,
    Weights,
    deleted_id,
    event_result,
    health_status,
    model_page,
)

P = ParamSpec("P")
Req = TypeVar("Req")
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
class Rpc(Generic[P, Req, Res, Out]):
    """One RPC as the clients call it."""

    service: str  # "gate" (gatenet.v1.GateService) or "health" (grpc.health.v1.Health)
    method: str  # the stub's method name
    build: Callable[P, Req]  # the request, from the client method's arguments
    parse: Callable[[Res], Out]  # the typed result (of each event, for a stream)
    idempotent: bool  # safe to repeat, so retried on UNAVAILABLE
    route: Callable[[Req], str] | None = None  # the routing key of calls addressed to one model
    streams: str = ""  # "request" or "response": that side is a stream (of Chunk messages)

    def metadata(self, request: Req, base: Metadata) -> Metadata:
        """The call's metadata: base (the token), plus the routing header if addressed."""
        key = None if self.route is None else self.route(request)
        if key is None or len(key) > ROUTING_MAX or not (key.isascii() and key.isprintable()):
            return base
        return (*base, (ROUTING_HEADER, key))


AnyRpc = Rpc[..., Any, Any, Any]

TRAIN = Rpc("gate", "Train", build_train_request, ModelInfo.from_proto, idempotent=False)
TRAIN_STREAM = Rpc("gate", "TrainStream", build_train_request, event_result, idempotent=False)
PREDICT = Rpc("gate", "Predict", predict_request, Prediction.from_proto, True, _model)
GET_WEIGHTS = Rpc("gate", "GetWeights", weights_request, Weights.from_proto, True, _model)
LIST_MODELS = Rpc("gate", "ListModels", list_request, model_page, idempotent=True)
GET_MODEL = Rpc("gate", "GetModel", get_model_request, ModelInfo.from_proto, True, _model)
DELETE_MODEL = Rpc("gate", "DeleteModel", delete_request, deleted_id, False, _model)
IMPORT_MODEL = Rpc("gate", "ImportModel", import_request, ModelInfo.from_proto, idempotent=False)
# The same two for models and files past the message limit, in chunks (chunks.py).
GET_WEIGHTS_CHUNKED = Rpc(
    "gate",
    "GetWeightsChunked",
    weights_request,
    chunks.weights_result,
    True,
    _model,
    streams="response",
)
IMPORT_MODEL_CHUNKED = Rpc(
    "gate", "ImportModelChunked", chunks.split, ModelInfo.from_proto, False, streams="request"
)
HEALTH = Rpc("health", "Check", health_request, health_status, idempotent=True)
