"""The asyncio gatenet client: each call of the shared plans, awaited over grpc.aio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, Unpack

import grpc

from . import plans
from .base import ClientBase
from .errors import ClientError, from_rpc_error
from .export.model_files import Source
from .messages import ModelRef, TrainOptions
from .plans import Plan, Send, Stream, Wait
from .results import ModelInfo, Prediction, Progress, Weights

T = TypeVar("T")


class AsyncClient(ClientBase[grpc.aio.Channel]):
    """An asyncio connection to a gatenet server; use as `async with AsyncClient(target) as c:`."""

    _aio = True

    async def train(
        self, *, timeout: float | None = None, **options: Unpack[TrainOptions]
    ) -> ModelInfo:
        """Train a model to completion and return its info (never retried)."""
        return await self._run(plans.train(self, timeout=timeout, **options))

    def train_stream(
        self, *, timeout: float | None = None, **options: Unpack[TrainOptions]
    ) -> AsyncIterator[Progress | ModelInfo]:
        """Train, yielding Progress events and finally the ModelInfo; leaving early cancels it."""
        return self._open(plans.train_stream(self, timeout=timeout, **options))

    async def predict(
        self, model: ModelRef, rows: Any, *, timeout: float | None = None
    ) -> Prediction:
        """Predict rows (2-D array-like) with a model given by id, name or ModelInfo."""
        return await self._run(plans.predict(self, model, rows, timeout=timeout))

    async def get_weights(
        self, model: ModelRef, *, safetensors: bool = False, timeout: float | None = None
    ) -> Weights:
        """A model's parameter tensors as numpy arrays (and a safetensors blob if asked)."""
        return await self._run(
            plans.get_weights(self, model, safetensors=safetensors, timeout=timeout)
        )

    async def list_models(
        self, *, name_prefix: str = "", page_size: int = 0, timeout: float | None = None
    ) -> list[ModelInfo]:
        """Every registered model (oldest first), following pages to the end."""
        return await self._run(
            plans.list_models(self, name_prefix=name_prefix, page_size=page_size, timeout=timeout)
        )

    async def get_model(self, model: ModelRef, *, timeout: float | None = None) -> ModelInfo:
        """One model's info by id or name."""
        return await self._run(plans.get_model(self, model, timeout=timeout))

    async def delete_model(self, model: ModelRef, *, timeout: float | None = None) -> str:
        """Remove a model (never retried); returns the id removed."""
        return await self._run(plans.delete_model(self, model, timeout=timeout))

    async def import_model(
        self, source: Source, name: str | None = None, *, timeout: float | None = None
    ) -> ModelInfo:
        """Register a model from a safetensors or `weights --json` file (path or contents)."""
        return await self._run(plans.import_model(self, source, name, timeout=timeout))

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status name: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"..."""
        return await self._run(plans.health(self, service, timeout=timeout))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel if this client opened it (a later call opens a new one)."""
        channel = self._release()
        if channel is not None:
            await channel.close()

    async def _run(self, plan: Plan[T]) -> T:
        """Run a plan: each Send awaited, each Wait as asyncio.sleep."""
        reply: Any = None
        error: ClientError | None = None
        while True:
            try:
                step = plan.send(reply) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
                continue
            try:
                reply = await self._send(step)
            except ClientError as err:
                error = err

    async def _send(self, step: Send) -> Any:
        call = self._stub_method(step.rpc.service, step.rpc.method)
        streams = step.rpc.streams
        request = iter(step.request) if streams == "request" else step.request
        try:
            response = call(request, timeout=step.timeout, metadata=step.metadata)
            if streams == "response":
                return [message async for message in response]
            return await response
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target, self._security) from err

    def _open(self, stream: Stream[T]) -> AsyncIterator[T]:
        """Start a server-streaming call now; iterate its parsed events."""
        call = self._stub_method(stream.rpc.service, stream.rpc.method)(
            stream.request, timeout=stream.timeout, metadata=stream.metadata
        )
        return self._events(call, stream.rpc.parse, stream.rpc.last)

    async def _events(
        self, call: Any, parse: Callable[[Any], T], last: Callable[[T], bool] | None
    ) -> AsyncIterator[T]:
        try:
            async for event in call:
                result = parse(event)
                if last is not None and last(result):
                    async for _ in call:  # to the status: the call ends OK, not CANCELLED
                        pass
                yield result
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target, self._security) from err
        finally:
            call.cancel()  # no-op once finished; stops training if the caller stopped early
