"""GateService handlers: decode -> domain -> training pool or registry -> encode.

Each handler reads top to bottom as its steps. Errors are raised as domain
errors; handlers.py maps them to status codes in one place.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np

from gatenet.server import offload
from gatenet.server.config import Settings
from gatenet.server.errors import Cancelled, DeadlineExceeded, InvalidArgument
from gatenet.server.metrics import Metrics
from gatenet.server.models.inference import CompiledModel
from gatenet.server.models.registry import Registry, Served
from gatenet.server.rpc import (
    auth,
    chunked,
    forward,
    import_summary,
    model_codec,
    paging,
    predict_codec,
    train_codec,
)
from gatenet.server.rpc.observe import note
from gatenet.server.storage import ModelMeta, ModelRecord
from gatenet.server.training.pool import Draining, Refused, TrainingPool
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, Progress, Recipe, TrainResult
from gatenet.v1 import gatenet_pb2 as pb

log = logging.getLogger("gatenet.server")

_DEFAULT_PAGE = 100
_MAX_PAGE = 1000
_MAX_NAME = 200  # characters of a model name


class GateService:
    """Train, serve and manage models."""

    def __init__(
        self, settings: Settings, registry: Registry, pool: TrainingPool, metrics: Metrics
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._pool = pool
        self._metrics = metrics

    # -- training -----------------------------------------------------------------

    async def Train(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        recipe = await self._admit(request)
        training = asyncio.ensure_future(self._train(recipe, context))
        try:
            await asyncio.sleep(0)  # one loop turn: the recipe goes to a worker, and meanwhile
            described = await _describe(recipe, request.name)  # its model is described
            result = await training
        finally:
            training.cancel()  # a no-op once it is done
        return await self._register(described, result)

    async def TrainStream(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TrainEvent]:
        recipe = await self._admit(request)
        events: asyncio.Queue[Progress | None] = asyncio.Queue()
        training = asyncio.ensure_future(self._train(recipe, context, events.put_nowait))
        training.add_done_callback(lambda _: events.put_nowait(None))  # after every progress
        try:
            described = await _describe(recipe, request.name)  # while a worker trains
            while (progress := await events.get()) is not None:
                yield train_codec.progress_event(progress)
            result = await training
            yield pb.TrainEvent(model=await self._register(described, result))
        finally:
            training.cancel()  # the stream ended early: the pool tells the worker to stop
            # Its outcome is counted and logged by _train; nobody else reads its exception.
            training.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _admit(self, request: pb.TrainRequest) -> Recipe:
        """The resolved recipe, once the server has room for its model and its name is free."""
        _check_name(request.name)
        large = train_codec.request_heft(request) > offload.LARGE_VALUES
        recipe = await offload.run_if(large, _recipe, request, self._settings.limits)
        self._registry.ensure_capacity()
        await self._registry.ensure_name_free(request.name)
        return recipe

    async def _train(
        self, recipe: Recipe, context: grpc.aio.ServicerContext, on_progress: Any = None
    ) -> TrainResult:
        """Run the recipe on a worker; count and log how it ended."""
        task, started, outcome = recipe.dataset.kind, time.perf_counter(), "failed"
        self._metrics.trainings_in_progress.inc()
        try:
            result = await self._pool.run(recipe, on_progress, _owner(context))
            if not all(np.isfinite(w).all() for w in result.weights.values()):
                raise InvalidArgument(
                    "learning_rate",
                    f"{recipe.learning_rate:g} made training diverge (parameters overflowed); "
                    "lower it, or use reduction mean",
                )
            outcome = "fit" if result.summary.fit else "not_fit"
            return result
        except (Refused, Draining):  # turned away untrained: not a failure
            outcome = "refused"
            raise
        except (asyncio.CancelledError, Cancelled):
            outcome = "cancelled"
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    "deadline exceeded while training; nothing was stored"
                ) from None
            raise
        finally:
            seconds = time.perf_counter() - started
            self._metrics.training_finished(task, outcome, seconds)
            log.info(
                "training",
                extra={
                    "fields": {
                        "task": task,
                        "label": recipe.dataset.label,
                        "outcome": outcome,
                        "seconds": round(seconds, 4),
                    }
                },
            )

    async def _register(
        self, described: train_codec.Description, result: TrainResult
    ) -> pb.ModelInfo:
        """Store the trained model (durable before we answer), cache it, describe it."""
        described = train_codec.ran(described, result)
        model_id, activation = uuid.uuid4().hex, described.recipe.activation
        large = train_codec.heft(described.recipe) > offload.LARGE_VALUES
        info, record = await offload.run_if(large, _trained_record, model_id, described, result)
        await self._registry.add(record, CompiledModel(result.weights, activation))
        self._metrics.training_steps.inc(result.summary.steps)
        self._metrics.training_restarts.inc(result.summary.restarts)
        self._metrics.models.set(self._registry.stored)
        note(model_id=model_id, steps=result.summary.steps, fit=result.summary.fit)
        return info

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
        """Register the model a file describes; a large file is read off the event loop."""
        _check_name(request.name)
        large = request.ByteSize() > offload.LARGE_BYTES
        imported = await offload.run_if(
            large, model_codec.ImportedFile, request, self._settings.limits
        )
        self._registry.ensure_capacity()
        await self._registry.ensure_name_free(request.name)
        model_id = uuid.uuid4().hex
        info, record = await offload.run(  # numpy over up to 4,096 rows: off the event loop
            _imported_record, imported, model_id, request.name, self._settings.limits
        )
        await self._registry.add(record, imported.compiled)
        self._metrics.models.set(self._registry.stored)
        note(model_id=model_id, imported_from=imported.model_id)
        return info

    # -- serving ------------------------------------------------------------------

    async def Predict(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """A serialized PredictRequest in, a serialized PredictResponse out."""
        call = predict_codec.decode(request)
        model = await self._registry.get(_model_ref(call.model))
        compiled = model.compiled
        rows = predict_codec.count_rows(call, compiled.num_inputs, self._settings.max_predict_rows)
        predict_codec.check_work(
            "inputs", rows, compiled.layout.work, self._settings.max_predict_work
        )
        probabilities, labels = await forward.answer(compiled, call.inputs, rows)
        self._metrics.predicted(rows)
        return predict_codec.encode(model.model_id, probabilities, labels)

    async def GetWeights(
        self, request: pb.GetWeightsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWeightsResponse:
        model = await self._registry.get(_model_ref(request.model))
        meta = await self._registry.meta(model.model_id)
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
            metas, next_token = await self._registry.page(
                request.page_token, size, request.name_prefix
            )
            models = await offload.run(paging.describe, metas, listed)
            fit = paging.fitting(models, budget)
            if fit == len(models):
                break
            # A page of the models that fit, asked for again: its token continues right after.
            size = fit
        return pb.ListModelsResponse(
            models=models, next_page_token=next_token, total=self._registry.stored
        )

    async def GetModel(
        self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        meta = await self._registry.meta(_model_ref(request.model))
        return await offload.run(model_codec.model_info, meta)

    async def DeleteModel(
        self, request: pb.DeleteModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteModelResponse:
        meta = await self._registry.delete(_model_ref(request.model))
        self._metrics.models.set(self._registry.stored)
        note(model_id=meta.model_id)
        return pb.DeleteModelResponse(model_id=meta.model_id)


def _recipe(request: pb.TrainRequest, limits: Limits) -> Recipe:
    """The request's recipe, checked against the limits, every default resolved."""
    return resolve(train_codec.spec_from_request(request, limits), limits)


async def _describe(recipe: Recipe, name: str) -> train_codec.Description:
    large = train_codec.heft(recipe) > offload.LARGE_VALUES
    return await offload.run_if(large, train_codec.describe, recipe, name)


def _trained_record(
    model_id: str, described: train_codec.Description, result: TrainResult
) -> tuple[pb.ModelInfo, ModelRecord]:
    """A trained model's info and the record that stores it."""
    info = train_codec.model_info(model_id, time.time(), described, result)
    document = model_codec.document(info, described.recipe.activation, described.spec_json)
    meta = ModelMeta(model_id, described.name, info.created_at, document)
    return info, ModelRecord(meta, result.weights)


def _imported_record(
    imported: model_codec.ImportedFile, model_id: str, name: str, limits: Limits
) -> tuple[pb.ModelInfo, ModelRecord]:
    """An imported model's info, measured on its task's rows when the file names one, and the
    record that stores it."""
    info = imported.info(model_id, name, time.time())
    import_summary.summarize(info, imported.weights, imported.activation, imported.field, limits)
    meta = ModelMeta(
        model_id, name, info.created_at, model_codec.document(info, imported.activation)
    )
    return info, ModelRecord(meta, imported.weights)


def _weights(model: Served, meta: ModelMeta, include_safetensors: bool) -> pb.GetWeightsResponse:
    """What GetWeights answers."""
    weights = model.compiled.weights()
    response = pb.GetWeightsResponse(
        model_id=model.model_id,
        tensors=train_codec.tensors(weights),
        spec=model_codec.model_info(meta).spec,
    )
    if include_safetensors:
        response.safetensors = model_codec.safetensors_file(weights, meta)
    return response


def _owner(context: grpc.aio.ServicerContext) -> str:
    """Whom a training counts against: the authenticated caller, else its address (port dropped)."""
    # Without auth an `authorization` header proves nothing: whatever it says, the address counts.
    return auth.caller() or "peer:" + str(context.peer()).rsplit(":", 1)[0]


def _model_ref(ref: str) -> str:
    if not ref:
        raise InvalidArgument("model", "is empty; give a model id or name")
    return ref


def _check_name(name: str) -> None:
    if len(name) > _MAX_NAME:
        raise InvalidArgument("name", f"{len(name)} characters exceeds the limit {_MAX_NAME}")
    if name and (not name.isprintable() or name != name.strip()):
        raise InvalidArgument("name", "must be printable, without leading or trailing spaces")
    if len(name) == 32 and all(c in "0123456789abcdef" for c in name):
        raise InvalidArgument("name", "looks like a model id; pick a name ids cannot take")


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
        wire = method.name == "Predict"
        factory = factories[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(
            getattr(service, method.name),
            request_deserializer=None if wire else getattr(pb, method.input_type.name).FromString,
            response_serializer=(
                None if wire else getattr(pb, method.output_type.name).SerializeToString
            ),
        )
    server.add_registered_method_handlers(descriptor.full_name, handlers)
