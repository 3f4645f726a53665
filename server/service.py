"""GateService handlers: request -> domain -> pool/registry -> response. Thin on purpose."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from gatenet.server import convert, predict_wire, serving, status
from gatenet.server.config import Settings
from gatenet.server.errors import Cancelled, DeadlineExceeded, InvalidArgument
from gatenet.server.metrics import Metrics
from gatenet.server.observe import note
from gatenet.server.registry import Model, Registry
from gatenet.server.serving import CompiledModel
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Progress, TrainResult, TrainSpec
from gatenet.server.workers import Job, TrainingPool
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc

log = logging.getLogger("gatenet.server")

_DEFAULT_PAGE = 100
_MAX_PAGE = 1000


@dataclass(eq=False)
class _Run:
    """A queued training run, when it was queued, and the future its end resolves."""

    job: Job
    spec: TrainSpec
    started: float
    done: asyncio.Future[None]
    accounted: bool = False


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Run fn(*args) on the loop from a training thread; a closed loop means nobody waits."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


def _settle(done: asyncio.Future[None], events: asyncio.Queue[Progress | None] | None) -> None:
    """The run ended: wake its handler, and end its progress stream."""
    if not done.done():  # a cancelled RPC cancelled the future already
        done.set_result(None)
    if events is not None:
        events.put_nowait(None)


class GateService(gatenet_pb2_grpc.GateServiceServicer):
    """Train, serve and manage models."""

    def __init__(
        self, settings: Settings, registry: Registry, pool: TrainingPool, metrics: Metrics
    ) -> None:
        self._settings = settings
        self._limits = settings.limits
        self._registry = registry
        self._pool = pool
        self._metrics = metrics

    # -- training -----------------------------------------------------------------

    def _start(
        self, request: pb.TrainRequest, events: asyncio.Queue[Progress | None] | None = None
    ) -> _Run:
        """Validate, check capacity and queue the run; progress goes to `events`, then None."""
        spec = resolve(convert.spec_from_request(request, self._limits), self._limits)
        self._registry.ensure_capacity()
        self._registry.ensure_name_free(request.name)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        # The pool calls back from its slot threads; hand everything over to the loop.
        on_progress = None if events is None else functools.partial(_post, loop, events.put_nowait)
        job = self._pool.submit(
            spec, on_progress, functools.partial(_post, loop, _settle, done, events)
        )
        self._metrics.trainings_in_progress.inc()
        return _Run(job, spec, time.perf_counter(), done)

    def _account(self, run: _Run, outcome: str) -> None:
        """Count the run's end once, whichever path ends it."""
        if run.accounted:
            return
        run.accounted = True
        m, task = self._metrics, run.spec.dataset.kind
        m.trainings_in_progress.dec()
        m.trainings.labels(task, outcome).inc()
        m.training_seconds.labels(task).observe(time.perf_counter() - run.started)

    async def _complete(
        self, run: _Run, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        """Wait for the run without blocking the loop, register its model and account for it."""
        m = self._metrics
        task = run.spec.dataset.kind
        outcome = "failed"
        try:
            try:
                await run.done
                result = run.job.wait(0)
            except asyncio.CancelledError:
                # The RPC ended underneath us (client cancel, deadline, server stop).
                run.job.cancel()
                outcome = "cancelled"
                raise
            except Cancelled as exc:
                outcome = "cancelled"
                remaining = context.time_remaining()
                if remaining is not None and remaining <= 0:
                    raise DeadlineExceeded(
                        f"deadline exceeded while training ({exc}); nothing was registered"
                    ) from None
                raise
            model = self._register(request, run.spec, result)
            outcome = "fit" if result.fit else "not_fit"
        finally:
            self._account(run, outcome)
        m.training_steps.inc(result.steps)
        m.training_restarts.inc(result.restarts)
        note(model_id=model.model_id)
        log.info(
            "training",
            extra={
                "fields": {
                    "model_id": model.model_id,
                    "task": task,
                    "label": run.spec.dataset.label,
                    "outcome": outcome,
                    "steps": result.steps,
                    "restarts": result.restarts,
                    "train_seconds": round(result.train_seconds, 4),
                }
            },
        )
        return pb.ModelInfo.FromString(model.info)

    def _register(self, request: pb.TrainRequest, spec: TrainSpec, result: TrainResult) -> Model:
        model_id = uuid.uuid4().hex
        info = convert.model_info(model_id, request, spec, result)
        model = Model(
            model_id=model_id,
            name=request.name,
            compiled=CompiledModel(result.weights, spec.activation),
            info=info.SerializeToString(),
        )
        self._registry.add(model)
        self._metrics.models.set(len(self._registry))
        return model

    @status.unary
    async def Train(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return await self._complete(self._start(request), request, context)

    @status.streaming
    async def TrainStream(
        self, request: pb.TrainRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TrainEvent]:
        events: asyncio.Queue[Progress | None] = asyncio.Queue()
        run = self._start(request, events)
        try:
            while (progress := await events.get()) is not None:
                yield convert.progress_event(progress)
            yield pb.TrainEvent(model=await self._complete(run, request, context))
        finally:
            if not run.accounted:  # the stream ended early: stop the worker, nobody reads on
                run.job.cancel()
                self._account(run, "cancelled")

    # -- serving ------------------------------------------------------------------

    @status.unary
    async def Predict(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """A serialized PredictRequest in, a serialized PredictResponse out (see add_to_server)."""
        ask = predict_wire.parse_request(request)
        model = self._registry.get(_model_ref(ask.model))
        response, rows = serving.predict(
            model.model_id,
            model.compiled,
            ask.inputs,
            ask.num_features,
            self._settings.max_predict_rows,
        )
        self._metrics.predicted_rows.inc(rows)
        self._metrics.predict_batch_rows.observe(rows)
        return response

    @status.unary
    async def GetWeights(
        self, request: pb.GetWeightsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWeightsResponse:
        model = self._registry.get(_model_ref(request.model))
        weights = model.compiled.weights()
        response = pb.GetWeightsResponse(
            model_id=model.model_id,
            tensors=convert.tensors(weights),
            spec=pb.ModelInfo.FromString(model.info).spec,
        )
        if request.include_safetensors:
            from safetensors.numpy import save

            response.safetensors = save(weights, metadata={"model_id": model.model_id})
        return response

    # -- management -------------------------------------------------------------------

    @status.unary
    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        size = request.page_size or _DEFAULT_PAGE
        if size > _MAX_PAGE:
            raise InvalidArgument("page_size", f"{size} exceeds the limit {_MAX_PAGE}")
        offset = _page_offset(request.page_token)
        models, next_offset = self._registry.page(offset, size, request.name_prefix)
        response = pb.ListModelsResponse(
            total=len(self._registry), next_page_token="" if next_offset < 0 else str(next_offset)
        )
        for model in models:
            info = response.models.add()
            info.MergeFromString(model.info)
            info.ClearField("loss_curve")
        return response

    @status.unary
    async def GetModel(
        self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return pb.ModelInfo.FromString(self._registry.get(_model_ref(request.model)).info)

    @status.unary
    async def DeleteModel(
        self, request: pb.DeleteModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteModelResponse:
        model = self._registry.delete(_model_ref(request.model))
        self._metrics.models.set(len(self._registry))
        note(model_id=model.model_id)
        return pb.DeleteModelResponse(model_id=model.model_id)


# Methods registered without (de)serializers: their handlers read and write wire bytes.
_WIRE_METHODS = frozenset({"Predict"})


def add_to_server(service: GateService, server: Any) -> None:
    """Register GateService as the generated add_GateServiceServicer_to_server does, except
    that the _WIRE_METHODS get the call's bytes and return the response's. `server` is the
    aio server or anything with its two registration methods (an observe.Registrar)."""
    descriptor = pb.DESCRIPTOR.services_by_name["GateService"]
    handlers = {}
    for method in descriptor.methods:
        if method.client_streaming:
            raise NotImplementedError(f"{method.name}: client streaming is not registered here")
        wire = method.name in _WIRE_METHODS
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
    generic = grpc.method_handlers_generic_handler(descriptor.full_name, handlers)
    server.add_generic_rpc_handlers((generic,))
    server.add_registered_method_handlers(descriptor.full_name, handlers)


def _model_ref(ref: str) -> str:
    if not ref:
        raise InvalidArgument("model", "is empty; give a model id or name")
    return ref


def _page_offset(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise InvalidArgument("page_token", f"{token!r} is not a token this server issued")
    return int(token)
