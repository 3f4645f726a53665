"""The synchronous gatenet client: each call of the shared plans, made as a blocking call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import grpc

from . import plans
from .base import ClientBase
from .errors import ClientError, from_rpc_error
from .plans import Plan, Send, Stream, Wait

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(
    plan: Callable[Concatenate[plans.AnyClient, P], Plan[T]],
) -> Callable[Concatenate[Client, P], T]:
    """A Client method that runs plan to its result."""

    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(plan(self, *args, **kwargs))

    plans.describe(method, plan, "Client")
    return method


def _blocking_stream(
    plan: Callable[Concatenate[plans.AnyClient, P], Stream[T]],
) -> Callable[Concatenate[Client, P], Iterator[T]]:
    """A Client method that opens plan's stream and iterates its events."""

    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._open(plan(self, *args, **kwargs))

    plans.describe(method, plan, "Client")
    return method


class Client(ClientBase[grpc.Channel]):
    """A connection to a gatenet server; use as `with Client(target) as c:`."""

    _aio = False

    train = _blocking(plans.train)
    train_stream = _blocking_stream(plans.train_stream)
    predict = _blocking(plans.predict)
    get_weights = _blocking(plans.get_weights)
    list_models = _blocking(plans.list_models)
    get_model = _blocking(plans.get_model)
    delete_model = _blocking(plans.delete_model)
    import_model = _blocking(plans.import_model)
    health = _blocking(plans.health)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel if this client opened it (a later call opens a new one)."""
        channel = self._release()
        if channel is not None:
            channel.close()

    def _run(self, plan: Plan[T]) -> T:
        """Run a plan: each Send as a blocking call, each Wait as a sleep."""
        reply: Any = None
        error: ClientError | None = None
        while True:
            try:
                step = plan.send(reply) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Wait):
                time.sleep(step.seconds)
                continue
            try:
                reply = self._send(step)
            except ClientError as err:
                error = err

    def _send(self, step: Send) -> Any:
        call = self._stub_method(step.rpc.service, step.rpc.method)
        streams = step.rpc.streams
        request = iter(step.request) if streams == "request" else step.request
        try:
            response = call(request, timeout=step.timeout, metadata=step.metadata)
            return list(response) if streams == "response" else response
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from err

    def _open(self, stream: Stream[T]) -> Iterator[T]:
        """Start a server-streaming call now; iterate its parsed events."""
        call = self._stub_method(stream.rpc.service, stream.rpc.method)(
            stream.request, timeout=stream.timeout, metadata=stream.metadata
        )
        return self._events(call, stream.rpc.parse)

    def _events(self, call: Any, parse: Callable[[Any], T]) -> Iterator[T]:
        try:
            for event in call:
                yield parse(event)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from err
        finally:
            call.cancel()  # no-op once finished; stops training if the caller stopped early
