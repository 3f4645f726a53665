"""The Open Inference Protocol (KServe V2) service: stock V2 clients predict gatenet models.

Handlers read like GateService's: decode -> the data plane -> encode, raising
domain errors that handlers.py maps to status codes. ModelInfer shares Predict's
use case (plane/predict.py): the same model lookup, work bound and forward, on a
thread when big (models/forward.py, truth tables included); infer_codec.py shapes
the tensor into rows.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from gatenet.inference import grpc_service_pb2 as v2
from gatenet.server.config import Settings
from gatenet.server.errors import NotFound, ResourceExhausted
from gatenet.server.plane import DataPlane
from gatenet.server.rpc import infer_codec
from gatenet.server.rpc.observe import note

_DESCRIPTOR = v2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVICE_NAME = _DESCRIPTOR.full_name
METHODS = {m.name: "unary" for m in _DESCRIPTOR.methods}  # grpc_type per method, for metrics
SERVER_NAME = "gatenet"
READY = "READY"  # RepositoryIndex's state of a model that can be served
UNAVAILABLE = "UNAVAILABLE"  # ... of one whose stored record is damaged (reason says why)
_INDEX_PAGE = 1000  # models read from the store at a time for RepositoryIndex
_SHAPE = "inputs[0].shape"  # the field a ModelInfer's rows come from, in its errors


def _version() -> str:
    try:
        return metadata.version("gatenet")
    except metadata.PackageNotFoundError:
        return ""


class InferenceService:
    """inference.GRPCInferenceService over gatenet's registry and health."""

    def __init__(self, settings: Settings, plane: DataPlane, health: Any) -> None:
        self._settings = settings
        self._predictor = plane.predictor
        self._catalog = plane.catalog
        # The server's grpc_health servicer: ServerReady reads this service's entry in it.
        self._health = health
        self._server_metadata = v2.ServerMetadataResponse(
            name=SERVER_NAME, version=_version(), extensions=[]
        )

    # -- server -------------------------------------------------------------------

    async def ServerLive(
        self, request: v2.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> v2.ServerLiveResponse:
        return v2.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: v2.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> v2.ServerReadyResponse:
        # NOT_SERVING until the store is open, and again from the moment draining starts.
        check = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        reply = await self._health.Check(check, context)
        return v2.ServerReadyResponse(ready=reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def ServerMetadata(
        self, request: v2.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> v2.ServerMetadataResponse:
        return self._server_metadata

    # -- models -------------------------------------------------------------------

    async def ModelReady(
        self, request: v2.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> v2.ModelReadyResponse:
        try:
            await infer_codec.named_model(self._predictor, request.name, request.version)
        except NotFound:
            return v2.ModelReadyResponse(ready=False)
        return v2.ModelReadyResponse(ready=True)

    async def ModelMetadata(
        self, request: v2.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> v2.ModelMetadataResponse:
        model = await infer_codec.named_model(self._predictor, request.name, request.version)
        return infer_codec.metadata(request.name, model.compiled.num_inputs)

    async def ModelInfer(
        self, request: v2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        """A parsed ModelInferRequest in, a serialized ModelInferResponse out (infer_codec)."""
        call = infer_codec.decode(request)
        # A cached model and a small forward: answered without a coroutine (as Predict is).
        predictor = self._predictor
        model = infer_codec.cached_model(
            predictor, call.model, call.version
        ) or await infer_codec.named_model(predictor, call.model, call.version)
        note(model_id=model.model_id)  # for the call's log line and span
        rows, count = infer_codec.rows(call, model.compiled.num_inputs, predictor.max_rows)
        answer = predictor.answer_now(model, rows, count, _SHAPE) or await predictor.answer(
            model, rows, count, _SHAPE
        )
        return infer_codec.encode(call, *answer)

    async def RepositoryIndex(
        self, request: v2.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> v2.RepositoryIndexResponse:
        """Every stored model by name, or by id when it has none: READY, or UNAVAILABLE with
        the reason when its stored record is damaged."""
        response = v2.RepositoryIndexResponse()
        limit = self._settings.max_message_bytes
        token = ""
        while True:
            metas, token = await self._catalog.page(token, _INDEX_PAGE, "")
            for meta in metas:
                response.models.add(
                    name=meta.name or meta.model_id,
                    version=infer_codec.VERSION,
                    state=UNAVAILABLE if meta.damage else READY,
                    reason=meta.damage,
                )
            if response.ByteSize() > limit:
                raise ResourceExhausted(
                    f"RepositoryIndex: the index of {self._catalog.stored} models exceeds "
                    f"the message limit {limit} bytes (--max-message-bytes); "
                    "page through them with gatenet.v1 ListModels"
                )
            if not token:
                return response

    async def ModelConfig(
        self, request: v2.ModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> v2.ModelConfigResponse:
        model = await infer_codec.named_model(self._predictor, request.name, request.version)
        return infer_codec.config(request.name, model.compiled.num_inputs, self._predictor.max_rows)


def add_to_server(service: InferenceService, server: Any) -> None:
    """Register the service like the generated add_GRPCInferenceServiceServicer_to_server,
    except that ModelInfer returns its response already serialized (infer_codec.encode)."""
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(service, method.name),
            request_deserializer=getattr(v2, method.input_type.name).FromString,
            response_serializer=(
                None
                if method.name == "ModelInfer"
                else getattr(v2, method.output_type.name).SerializeToString
            ),
        )
        for method in _DESCRIPTOR.methods
    }
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
