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

from gatenet.server.config import Settings
from gatenet.server.errors import Cancelled, DeadlineExceeded, InvalidArgument
from gatenet.server.metrics import Metrics
from gatenet.server.models.inference import CompiledModel
from gatenet.server.models.registry import Registry
from gatenet.server.rpc import (
    auth,
    forward,
    import_summary,
    model_codec,
    predict_codec,
    train_codec,
)
from gatenet.server.rpc.observe import note
from gatenet.server.storage import ModelMeta, ModelRecord
from gatenet.server.training.pool import Draining, Refused, TrainingPool
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Progress, Recipe, TrainResult
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
            described = train_codec.describe(recipe, request.name)  # its model is described
            result = await training
        finally:
            training.cancel()  # a no-op once it is done
        return await self._register(described, result)

    async def TrainStream(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TrainEvent]:
        recipe = await self._admit(request)
        described = train_codec.describe(recipe, request.name)
        events: asyncio.Queue[Progress | None] = asyncio.Queue()
        training = asyncio.ensure_future(self._train(recipe, context, events.put_nowait))
        training.add_done_callback(lambda _: events.put_nowait(None))  # after every progress
        try:
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
        recipe = resolve(
            train_codec.spec_from_request(request, self._settings.limits), self._settings.limits
        )
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
        info = train_codec.model_info(model_id, time.time(), described, result)
        document = model_codec.document(info, activation, described.spec_json)
        meta = ModelMeta(model_id, described.name, info.created_at, document)
        await self._registry.add(
            ModelRecord(meta, result.weights), CompiledModel(result.weights, activation)
        )
        self._metrics.training_steps.inc(result.summary.steps)
        self._metrics.training_restarts.inc(result.summary.restarts)
        self._metrics.models.set(self._registry.stored)
        note(model_id=model_id, steps=result.summary.steps, fit=result.summary.fit)
        return info

    async def ImportModel(
        self, request: pb.ImportModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        _check_name(request.name)
        imported = model_codec.ImportedFile(request, self._settings.limits)
        self._registry.ensure_capacity()
        await self._registry.ensure_name_free(request.name)
        model_id = uuid.uuid4().hex
        info = imported.info(model_id, request.name, time.time())
        await asyncio.to_thread(  # numpy over up to 4,096 rows: off the event loop
            import_summary.summarize,
            info,
            imported.weights,
            imported.activation,
            imported.field,
            self._settings.limits,
        )
        meta = ModelMeta(
            model_id, request.name, info.created_at, model_codec.document(info, imported.activation)
        )
        await self._registry.add(ModelRecord(meta, imported.weights), imported.compiled)
        self._metrics.models.set(self._registry.stored)
        note(model_id=model_id, imported_from=imported.model_id)
        return info

    # -- serving ------------------------------------------------------------------

    async def Predict(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """A serialized PredictRequest in, a serialized PredictResponse out."""
        call = predict_codec.decode(request)
        ref = _model_ref(call.model)
        # A cached model and a small forward take no await: no coroutine on the hot path.
        model = self._registry.cached(ref) or await self._registry.get(ref)
        compiled = model.compiled
        layout = compiled.layout
        rows = predict_codec.count_rows(call, layout.num_inputs, self._settings.max_predict_rows)
        predict_codec.check_work("inputs", rows, layout.work, self._settings.max_predict_work)
        if forward.in_place(compiled, rows):
            probabilities, labels = forward.answer_here(compiled, call.inputs, rows)
        else:
            probabilities, labels = await forward.answer(compiled, call.inputs, rows)
        self._metrics.predicted(rows)
        return predict_codec.encode(model.model_id, probabilities, labels)

    async def GetWeights(
        self, request: pb.GetWeightsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWeightsResponse:
        model = await self._registry.get(_model_ref(request.model))
        meta = await self._registry.meta(model.model_id)
        weights = model.compiled.weights()
        response = pb.GetWeightsResponse(
            model_id=model.model_id,
            tensors=train_codec.tensors(weights),
            spec=model_codec.model_info(meta).spec,
        )
        if request.include_safetensors:
            response.safetensors = model_codec.safetensors_file(weights, meta)
        return response

    # -- management -----------------------------------------------------------------

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        size = request.page_size or _DEFAULT_PAGE
        if size > _MAX_PAGE:
            raise InvalidArgument("page_size", f"{size} exceeds the limit {_MAX_PAGE}")
        metas, next_token = await self._registry.page(request.page_token, size, request.name_prefix)
        return pb.ListModelsResponse(
            models=[model_codec.listed(meta) for meta in metas],
            next_page_token=next_token,
            total=self._registry.stored,
        )

    async def GetModel(
        self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return model_codec.model_info(await self._registry.meta(_model_ref(request.model)))

    async def DeleteModel(
        self, request: pb.DeleteModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteModelResponse:
        meta = await self._registry.delete(_model_ref(request.model))
        self._metrics.models.set(self._registry.stored)
        note(model_id=meta.model_id)
        return pb.DeleteModelResponse(model_id=meta.model_id)


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
    for method in descriptor.methods:
        wire = method.name == "Predict"
        factory = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = factory(
            getattr(service, method.name),
            request_deserializer=None if wire else getattr(pb, method.input_type.name).FromString,
            response_serializer=(
                None if wire else getattr(pb, method.output_type.name).SerializeToString
            ),
        )
    server.add_registered_method_handlers(descriptor.full_name, handlers)
