"""The asyncio gatenet client: each call of the shared plans, awaited over grpc.aio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import grpc

from . import plans
from .base import ClientBase
from .errors import ClientError, from_rpc_error
from .plans import Plan, Send, Stream, Wait

P = ParamSpec("P")
T = TypeVar("T")


def _awaiting(
    plan: Callable[Concatenate[plans.AnyClient, P], Plan[T]],
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    """An AsyncClient coroutine method that runs plan to its result."""

    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(plan(self, *args, **kwargs))

    plans.describe(method, plan, "AsyncClient")
    return method


def _awaiting_stream(
    plan: Callable[Concatenate[plans.AnyClient, P], Stream[T]],
) -> Callable[Concatenate[AsyncClient, P], AsyncIterator[T]]:
    """An AsyncClient method that opens plan's stream for `async for`."""

    def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        return self._open(plan(self, *args, **kwargs))

    plans.describe(method, plan, "AsyncClient")
    return method


class AsyncClient(ClientBase[grpc.aio.Channel]):
    """An asyncio connection to a gatenet server; use as `async with AsyncClient(target) as c:`."""

    _aio = True

    train = _awaiting(plans.train)
    train_stream = _awaiting_stream(plans.train_stream)
    predict = _awaiting(plans.predict)
    get_weights = _awaiting(plans.get_weights)
    list_models = _awaiting(plans.list_models)
    get_model = _awaiting(plans.get_model)
    delete_model = _awaiting(plans.delete_model)
    import_model = _awaiting(plans.import_model)
    health = _awaiting(plans.health)

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
            raise from_rpc_error(err, self.target) from err

    def _open(self, stream: Stream[T]) -> AsyncIterator[T]:
        """Start a server-streaming call now; iterate its parsed events."""
        call = self._stub_method(stream.rpc.service, stream.rpc.method)(
            stream.request, timeout=stream.timeout, metadata=stream.metadata
        )
        return self._events(call, stream.rpc.parse)

    async def _events(self, call: Any, parse: Callable[[Any], T]) -> AsyncIterator[T]:
        try:
            async for event in call:
                yield parse(event)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from err
        finally:
            call.cancel()  # no-op once finished; stops training if the caller stopped early
