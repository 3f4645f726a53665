"""The asyncio gatenet client: Client's methods as coroutines over grpc.aio."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

from .channel import DEFAULT_TARGET, Attempts, call_metadata, credentials, open_channel
from .client import event_result, health_status
from .errors import ClientError, from_rpc_error
from .messages import TrainOptions, build_train_request, model_ref, predict_request
from .results import ModelInfo, Prediction, Progress, Weights


class AsyncClient:
    """An asyncio connection to a gatenet server; use as `async with AsyncClient(target) as c:`."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        retries: int = 3,
        tls: bool = False,
        root_certificates: bytes | str | os.PathLike[str] | None = None,
        token: str | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout  # default deadline (seconds) for every call; None = no deadline
        self.retries = retries  # extra attempts on UNAVAILABLE, idempotent calls only
        self._metadata = call_metadata(token)
        self._owns_channel = channel is None  # an injected channel belongs to the caller
        self._credentials = credentials(tls, root_certificates)
        self._channel = channel
        self._stubs: tuple[pb_grpc.GateServiceStub, health_pb2_grpc.HealthStub] | None = None

    def _connect(self) -> tuple[pb_grpc.GateServiceStub, health_pb2_grpc.HealthStub]:
        # An aio channel belongs to the event loop it was made in, so make it on first use
        # (inside the caller's loop), not in __init__, which may run before asyncio.run().
        if self._stubs is None:
            if self._channel is None:
                self._channel = open_channel(self.target, self._credentials, aio=True)
            self._stubs = (
                pb_grpc.GateServiceStub(self._channel),
                health_pb2_grpc.HealthStub(self._channel),
            )
        return self._stubs

    @property
    def _stub(self) -> pb_grpc.GateServiceStub:
        return self._connect()[0]

    @property
    def _health(self) -> health_pb2_grpc.HealthStub:
        return self._connect()[1]

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owns_channel and self._channel is not None:
            await self._channel.close()
            self._channel, self._stubs = None, None

    async def _call(
        self, rpc: Callable[..., Any], request: Any, timeout: float | None, idempotent: bool
    ) -> Any:
        attempts = Attempts(
            self.timeout if timeout is None else timeout, self.retries if idempotent else 0
        )
        while True:
            try:
                return await rpc(request, timeout=attempts.timeout(), metadata=self._metadata)
            except grpc.RpcError as err:
                error = from_rpc_error(err, self.target)
                delay = attempts.retry_after(error)
                if delay is None:
                    raise error from err
            await asyncio.sleep(delay)

    async def train(
        self, *, timeout: float | None = None, **options: Unpack[TrainOptions]
    ) -> ModelInfo:
        """Train a model to completion and return its info (never retried)."""
        request = build_train_request(**options)
        return ModelInfo.from_proto(await self._call(self._stub.Train, request, timeout, False))

    def train_stream(
        self, *, timeout: float | None = None, **options: Unpack[TrainOptions]
    ) -> AsyncIterator[Progress | ModelInfo]:
        """Train, yielding Progress events and finally the ModelInfo (`async for`)."""
        request = build_train_request(**options)  # raise ValueError now, not on first step
        timeout = self.timeout if timeout is None else timeout
        call = self._stub.TrainStream(request, timeout=timeout, metadata=self._metadata)
        return self._events(call)

    async def _events(self, call: Any) -> AsyncIterator[Progress | ModelInfo]:
        try:
            async for event in call:
                yield event_result(event)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from err
        finally:
            call.cancel()  # no-op once finished; stops training if the caller stopped early

    async def predict(self, model: Any, rows: Any, *, timeout: float | None = None) -> Prediction:
        """Predict rows (2-D array-like) with a model given by id, name or ModelInfo."""
        request = predict_request(model, rows)
        return Prediction.from_proto(await self._call(self._stub.Predict, request, timeout, True))

    async def get_weights(
        self, model: Any, *, safetensors: bool = False, timeout: float | None = None
    ) -> Weights:
        """A model's parameter tensors as numpy arrays (and a safetensors blob if asked)."""
        request = pb.GetWeightsRequest(model=model_ref(model), include_safetensors=safetensors)
        return Weights.from_proto(await self._call(self._stub.GetWeights, request, timeout, True))

    async def list_models(
        self, *, name_prefix: str = "", page_size: int = 0, timeout: float | None = None
    ) -> list[ModelInfo]:
        """Every registered model (oldest first), following pages to the end."""
        models: list[ModelInfo] = []
        request = pb.ListModelsRequest(page_size=page_size, name_prefix=name_prefix)
        while True:
            page = await self._call(self._stub.ListModels, request, timeout, True)
            models.extend(ModelInfo.from_proto(m) for m in page.models)
            if not page.next_page_token:
                return models
            request.page_token = page.next_page_token

    async def get_model(self, model: Any, *, timeout: float | None = None) -> ModelInfo:
        """One model's info by id or name."""
        request = pb.GetModelRequest(model=model_ref(model))
        return ModelInfo.from_proto(await self._call(self._stub.GetModel, request, timeout, True))

    async def delete_model(self, model: Any, *, timeout: float | None = None) -> str:
        """Remove a model (never retried); returns the id removed."""
        request = pb.DeleteModelRequest(model=model_ref(model))
        return (await self._call(self._stub.DeleteModel, request, timeout, False)).model_id

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status name: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"..."""
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            response = await self._call(self._health.Check, request, timeout, True)
        except ClientError as err:
            if err.code == "NOT_FOUND":  # Check's way of saying the service is not registered
                return "SERVICE_UNKNOWN"
            raise
        return health_status(response)
