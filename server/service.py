"""GateService handlers: request -> domain -> pool/registry -> response. Thin on purpose."""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from gatenet.server import convert, serving, status
from gatenet.server.config import Settings
from gatenet.server.errors import Cancelled, DeadlineExceeded, InvalidArgument
from gatenet.server.interceptor import note
from gatenet.server.metrics import Metrics
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


@dataclass(frozen=True)
class _Run:
    """A queued training run and when it was queued."""

    job: Job
    spec: TrainSpec
    started: float


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
        self,
        request: pb.TrainRequest,
        context: grpc.ServicerContext,
        on_progress: Callable[[Progress], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> _Run:
        """Validate, check capacity and queue the run; cancelled when the RPC ends early."""
        spec = resolve(convert.spec_from_request(request, self._limits), self._limits)
        self._registry.ensure_capacity()
        self._registry.ensure_name_free(request.name)
        job = self._pool.submit(spec, on_progress, on_done)
        if not context.add_callback(job.cancel):
            job.cancel()
        self._metrics.trainings_in_progress.inc()
        return _Run(job, spec, time.perf_counter())

    def _complete(
        self, run: _Run, request: pb.TrainRequest, context: grpc.ServicerContext
    ) -> pb.ModelInfo:
        """Wait for the run, register its model and account for it."""
        m = self._metrics
        task = run.spec.dataset.kind
        outcome = "failed"
        try:
            try:
                result = run.job.wait()
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
            m.trainings_in_progress.dec()
            m.trainings.labels(task, outcome).inc()
            m.training_seconds.labels(task).observe(time.perf_counter() - run.started)
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
    def Train(self, request: pb.TrainRequest, context: grpc.ServicerContext) -> pb.ModelInfo:
        return self._complete(self._start(request, context), request, context)

    @status.streaming
    def TrainStream(
        self, request: pb.TrainRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.TrainEvent]:
        events: queue.SimpleQueue[Progress | None] = queue.SimpleQueue()
        run = self._start(request, context, events.put, lambda: events.put(None))
        while (progress := events.get()) is not None:
            yield convert.progress_event(progress)
        yield pb.TrainEvent(model=self._complete(run, request, context))

    # -- serving ------------------------------------------------------------------

    @status.unary
    def Predict(
        self, request: pb.PredictRequest, context: grpc.ServicerContext
    ) -> pb.PredictResponse:
        model = self._registry.get(_model_ref(request.model))
        response, rows = serving.predict(
            model.model_id,
            model.compiled,
            request.inputs,
            request.num_features,
            self._settings.max_predict_rows,
        )
        self._metrics.predicted_rows.inc(rows)
        self._metrics.predict_batch_rows.observe(rows)
        return response

    @status.unary
    def GetWeights(
        self, request: pb.GetWeightsRequest, context: grpc.ServicerContext
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
    def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.ServicerContext
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
    def GetModel(self, request: pb.GetModelRequest, context: grpc.ServicerContext) -> pb.ModelInfo:
        return pb.ModelInfo.FromString(self._registry.get(_model_ref(request.model)).info)

    @status.unary
    def DeleteModel(
        self, request: pb.DeleteModelRequest, context: grpc.ServicerContext
    ) -> pb.DeleteModelResponse:
        model = self._registry.delete(_model_ref(request.model))
        self._metrics.models.set(len(self._registry))
        note(model_id=model.model_id)
        return pb.DeleteModelResponse(model_id=model.model_id)


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
