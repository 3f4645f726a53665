"""GateService handlers: decode -> the data plane's use case -> encode.

Each handler reads top to bottom as its steps; the use cases (predict, train, read,
list, delete, import) are server/plane/. Errors are raised as domain errors;
handlers.py maps them to status codes in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from gatenet.server import offload
from gatenet.server.config import Settings
from gatenet.server.errors import InvalidArgument
from gatenet.server.models import document
from gatenet.server.models.document import StoredModel
from gatenet.server.models.model_file import safetensors_file
from gatenet.server.models.registry import Served
from gatenet.server.models.spec_codec import tensors
from gatenet.server.plane import DataPlane
from gatenet.server.rpc import auth, chunked, paging, predict_codec, train_codec
from gatenet.server.rpc.observe import note
from gatenet.server.training.family.plan import FamilyProgress
from gatenet.server.training.spec import Progress
from gatenet.v1 import gatenet_pb2 as pb

_DEFAULT_PAGE = 100
# Methods whose handler takes the request's serialized bytes and returns the response's.
BYTES_METHODS = frozenset({"Predict"})
_MAX_PAGE = 1000


class GateService:
    """Train, serve and manage models."""

    def __init__(self, settings: Settings, plane: DataPlane) -> None:
        self._settings = settings
        self._predictor = plane.predictor
        self._training = plane.training
        self._catalog = plane.catalog
        self._families = plane.families

    # -- training -----------------------------------------------------------------

    async def Train(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        recipe = await self._training.admit(request)
        info = await self._training.train(
            recipe, request.name, _owner(context), context.time_remaining
        )
        _note_trained(info)
        return info

    async def TrainStream(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TrainEvent]:
        recipe = await self._training.admit(request)
        events: asyncio.Queue[Progress | None] = asyncio.Queue()
        training = asyncio.ensure_future(
            self._training.train(
                recipe, request.name, _owner(context), context.time_remaining, events.put_nowait
            )
        )
        training.add_done_callback(lambda _: events.put_nowait(None))  # after every progress
        try:
            while (progress := await events.get()) is not None:
                yield train_codec.progress_event(progress)
            info = await training
            _note_trained(info)
            yield pb.TrainEvent(model=info)
        finally:
            training.cancel()  # the stream ended early: the pool tells the worker to stop
            # Its outcome is counted and logged by the plane; nobody else reads its exception.
            training.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def TrainFamily(
        self, request: pb.TrainFamilyRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FamilyEvent]:
        plan = await self._families.admit(request)
        events: asyncio.Queue[FamilyProgress | None] = asyncio.Queue()
        training = asyncio.ensure_future(
            self._families.train(
                plan, request.name, _owner(context), context.time_remaining, events.put_nowait
            )
        )
        training.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (progress := await events.get()) is not None:
                yield train_codec.family_event(progress)
            info = await training
            note(functions=info.functions, fit=info.fit)
            yield pb.FamilyEvent(family=info)
        finally:
            training.cancel()  # the stream ended early: the pool tells the worker to stop
            training.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def GetFamily(
        self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.FamilyInfo:
        return await self._families.read(_model_ref(request.model))

    async def ImportModel(
        self, request: pb.ImportModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return await self._import(request)

    async def ImportModelChunked(
        self, request: AsyncIterator[pb.Chunk], context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        data = await chunked.joined(request)
        large = len(data) > offload.LARGE_BYTES
        return await self._import(
            await offload.run_if(large, chunked.parse, pb.ImportModelRequest, data)
        )

    async def _import(self, request: pb.ImportModelRequest) -> pb.ModelInfo:
        info = await self._catalog.import_(request)
        note(model_id=info.model_id, imported_from=info.imported_from)
        return info

    # -- serving ------------------------------------------------------------------

    async def Predict(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """A serialized PredictRequest in, a serialized PredictResponse out."""
        call = predict_codec.decode(request)
        answer = self._predictor.predict(_model_ref(call.model), call.inputs, call.num_features)
        if not isinstance(answer, tuple):  # a model to load or a big forward: awaited
            answer = await answer
        return predict_codec.encode(*answer)

    async def GetWeights(
        self, request: pb.GetWeightsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWeightsResponse:
        model, meta = await self._catalog.weights(_model_ref(request.model))
        return await offload.run(_weights, model, meta, request.include_safetensors)

    async def GetWeightsChunked(
        self, request: pb.GetWeightsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Chunk]:
        response = await self.GetWeights(request, context)
        data = await offload.run(response.SerializeToString)
        for chunk in chunked.split(data, self._settings.max_message_bytes):
            yield chunk

    # -- management -----------------------------------------------------------------

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        size = request.page_size or _DEFAULT_PAGE
        if size > _MAX_PAGE:
            raise InvalidArgument("page_size", f"{size} exceeds the limit {_MAX_PAGE}")
        budget = paging.budget(self._settings.max_message_bytes)
        listed: dict[str, pb.ModelInfo] = {}
        while True:
            metas, next_token = await self._catalog.page(
                request.page_token, size, request.name_prefix
            )
            models = await offload.run(paging.describe, metas, listed)
            fit = paging.fitting(models, budget)
            if fit == len(models):
                break
            # A page of the models that fit, asked for again: its token continues right after.
            size = fit
        return pb.ListModelsResponse(
            models=models, next_page_token=next_token, total=self._catalog.stored
        )

    async def GetModel(
        self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return await self._catalog.read(_model_ref(request.model))

    async def DeleteModel(
        self, request: pb.DeleteModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteModelResponse:
        model_id = await self._catalog.delete(_model_ref(request.model))
        note(model_id=model_id)
        return pb.DeleteModelResponse(model_id=model_id)


def _note_trained(info: pb.ModelInfo) -> None:
    note(model_id=info.model_id, steps=info.summary.steps, fit=info.summary.fit)


def _weights(model: Served, meta: StoredModel, include_safetensors: bool) -> pb.GetWeightsResponse:
    """What GetWeights answers."""
    weights = model.compiled.weights()
    response = pb.GetWeightsResponse(
        model_id=model.model_id,
        tensors=tensors(weights),
        spec=document.model_info(meta).spec,
    )
    if include_safetensors:
        response.safetensors = safetensors_file(weights, meta)
    return response


def _owner(context: grpc.aio.ServicerContext) -> str:
    """Whom a training counts against: the authenticated caller, else its address (port dropped)."""
    # Without auth an `authorization` header proves nothing: whatever it says, the address counts.
    return auth.caller() or "peer:" + str(context.peer()).rsplit(":", 1)[0]


def _model_ref(ref: str) -> str:
    if not ref:
        raise InvalidArgument("model", "is empty; give a model id or name")
    return ref


def add_to_server(service: GateService, server: Any) -> None:
    """Register GateService like the generated add_GateServiceServicer_to_server, except that
    Predict gets the call's bytes and returns the response's (predict_codec.py)."""
    descriptor = pb.DESCRIPTOR.services_by_name["GateService"]
    handlers = {}
    factories = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
    }
    for method in descriptor.methods:
        wire = method.name in BYTES_METHODS
        factory = factories[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(
            getattr(service, method.name),
            request_deserializer=None if wire else getattr(pb, method.input_type.name).FromString,
            response_serializer=(
                None if wire else getattr(pb, method.output_type.name).SerializeToString
            ),
        )
    server.add_registered_method_handlers(descriptor.full_name, handlers)
