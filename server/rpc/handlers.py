"""One registration pass: every method handler on the port is wrapped once, as it registers.

The wrapper around a call, outside in: observe (metrics and the log line) ->
auth -> decode the request body -> the handler -> the one error-to-status
mapping. Bodies are decoded here, after auth, so a body that does not parse is
INVALID_ARGUMENT, counted and logged like any call. No server interceptor: with
none, grpc.aio dispatches a call straight to its registered handler (the
cheapest path; bench/predict.py). Methods nobody registered reach a catch-all
that answers UNIMPLEMENTED, counted under one bounded label. While the server
stops, the wrapper ends write-streams and refuses late calls (drain.py).

Only the hot methods (HOT_METHODS) are registered with gRPC core. grpc.aio keeps
one pending request per registered method and, for every call that arrives, waits
on all of them again in Python (asyncio.wait): ~3,500 instructions per registered
method on every call, ~70,000 for the 21 methods served here, a third of the
cost of a small Predict (bench/predict.py). The others reach the one generic
handler, which finds each one's wrapped handler in a dict.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from gatenet.server.errors import (
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    Unimplemented,
    clip,
)
from gatenet.server.metrics import Metrics
from gatenet.server.rpc.auth import Auth
from gatenet.server.rpc.drain import SHUTTING_DOWN, Drain
from gatenet.server.rpc.observe import MethodObserver, grpc_type, note
from gatenet.server.rpc.status import set_status

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
UNKNOWN = "unknown"  # service and method label of calls to methods nobody registered
# Methods registered with gRPC core; every other one is routed by the generic handler.
HOT_METHODS = frozenset(
    {"/gatenet.v1.GateService/Predict", "/inference.GRPCInferenceService/ModelInfer"}
)


def _behavior(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    behaviors: dict[tuple[bool, bool], Any] = {
        (False, False): handler.unary_unary,
        (False, True): handler.unary_stream,
        (True, False): handler.stream_unary,
        (True, True): handler.stream_stream,
    }
    return behaviors[(handler.request_streaming, handler.response_streaming)]


def _request_type(service: str, method: str) -> str:
    try:
        found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
        return str(found.input_type.full_name)
    except KeyError:
        return "request"


def _decoder(
    service: str, method: str, handler: grpc.RpcMethodHandler
) -> Callable[[Any], Any] | None:
    parse = handler.request_deserializer
    if parse is None:  # the handler reads the wire bytes itself (Predict): None, no call
        return None
    message = f"body is not a valid {_request_type(service, method)}"

    def decode(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            raise InvalidArgument("request", message) from None

    return decode


class WrappingServer:
    """Stands in for the aio server while services register; each handler goes in wrapped.

    The generated add_*_to_server functions call exactly these two methods.
    """

    def __init__(
        self, server: grpc.aio.Server, metrics: Metrics, auth: Auth | None, max_send: int
    ) -> None:
        self._server = server
        self._metrics = metrics
        self._auth = auth
        self._max_send = max_send
        self.drain = Drain()  # refuses calls and ends write-streams while the server stops
        self.routed: dict[str, grpc.RpcMethodHandler] = {}  # by full method: generic handler's

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        """Wrap each handler; register the hot ones with gRPC core, route the others."""
        hot = {}
        for name, handler in handlers.items():
            full_method = f"/{service}/{name}"
            if full_method in HOT_METHODS:
                hot[name] = self.wrap(service, name, handler)
            else:
                self.routed[full_method] = self.wrap(service, name, handler)
        if hot:
            self._server.add_registered_method_handlers(service, hot)

    def add_generic_rpc_handlers(self, generic_handlers: tuple[Any, ...]) -> None:
        """Ignored: every method also arrives through add_registered_method_handlers."""

    def add_catch_all(self) -> None:
        """Serve the routed methods; answer methods nobody registered with UNIMPLEMENTED,
        observed like any call."""
        self._server.add_generic_rpc_handlers((_CatchAll(self),))

    def wrap(
        self, service: str, method: str, handler: grpc.RpcMethodHandler
    ) -> grpc.RpcMethodHandler:
        """`handler` taking raw bytes, observed, authorised, decoded, its errors mapped."""
        streaming_in, streaming_out = handler.request_streaming, handler.response_streaming
        obs = MethodObserver(self._metrics, service, method, grpc_type(handler))
        behavior, decode, auth = _behavior(handler), _decoder(service, method, handler), self._auth
        full_method = f"/{service}/{method}"
        max_send, drain = self._max_send, self.drain

        def admit(request: Any, context: grpc.aio.ServicerContext) -> Any:
            drain.admit()
            if auth is not None:
                auth.check(full_method, context.invocation_metadata())
            if streaming_in:
                return _decoded(request, decode, obs)
            obs.received.inc()
            return request if decode is None else decode(request)

        async def unary_response(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = obs.begin()
            try:
                response = await behavior(admit(request, context), context)
                _check_size(response, max_send)
                obs.sent.inc()
            except grpc.aio.AbortError:  # a stock servicer aborted: its status stands
                obs.finish(context, start, None)
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to a status right here
                set_status(context, exc, full_method)
                response = None  # grpc.aio sends no message with a non-OK code
            except BaseException as exc:  # the call ended underneath (cancelled)
                obs.finish(context, start, exc)
                raise
            obs.finish(context, start, None)
            return response

        async def stream_response(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            start = obs.begin()
            try:
                # aclosing: a stream that ends early closes the handler too, running its finally.
                async with contextlib.aclosing(behavior(admit(request, context), context)) as out:
                    async for response in out:
                        obs.sent.inc()
                        yield response
            except Exception as exc:  # noqa: BLE001 - mapped to a status right here
                set_status(context, exc, full_method)
            except BaseException as exc:  # GeneratorExit too: the call ended while parked
                obs.finish(context, start, exc)
                raise
            obs.finish(context, start, None)

        async def written_response(request: Any, context: grpc.aio.ServicerContext) -> None:
            """Handlers that stream through context.write (e.g. Health.Watch)."""
            start = obs.begin()
            stream = drain.open_stream(context)
            try:
                await behavior(admit(request, context), stream)
            except Exception as exc:  # noqa: BLE001 - mapped to a status right here
                set_status(context, exc, full_method)
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                # Ended by the drain (and by nothing else): answer it, or the client waits on.
                if not stream.ended or task is None or task.uncancel() > 0:
                    obs.finish(context, start, exc)
                    raise
                await stream.flushed()
                set_status(context, Unavailable(SHUTTING_DOWN), full_method)
            except BaseException as exc:
                obs.finish(context, start, exc)
                raise
            finally:
                drain.close_stream(stream)
            obs.finish(context, start, None)

        if not streaming_out:
            wrapper: Callable[..., Any] = unary_response
        elif inspect.isasyncgenfunction(behavior):
            wrapper = stream_response
        else:
            wrapper = written_response
        return _FACTORIES[(streaming_in, streaming_out)](
            wrapper, request_deserializer=None, response_serializer=handler.response_serializer
        )


def _check_size(response: Any, limit: int) -> None:
    """Refuse, with a code the server counts, a response the channel would refuse to send."""
    size = len(response) if isinstance(response, bytes) else response.ByteSize()
    if size > limit:
        raise ResourceExhausted(
            f"response: {size} bytes exceeds the limit --max-message-bytes {limit}"
            "; ask for less (a smaller page), or call GetWeightsChunked, which sends a model's"
            " weights of any size in chunks"
        )


async def _decoded(
    requests: AsyncIterator[bytes], decode: Callable[[bytes], Any] | None, obs: MethodObserver
) -> AsyncIterator[Any]:
    async for raw in requests:
        obs.received.inc()
        yield raw if decode is None else decode(raw)


class _CatchAll(grpc.GenericRpcHandler):
    """grpc.aio consults generic handlers only for methods with no registered handler: the
    routed ones, and the unknown."""

    def __init__(self, wrapping: WrappingServer) -> None:
        self._wrapping = wrapping

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        routed = self._wrapping.routed.get(details.method)
        if routed is not None:
            return routed
        method = clip(str(details.method))

        async def unimplemented(request: Any, context: grpc.aio.ServicerContext) -> None:
            note(method_called=method)
            raise Unimplemented(f"method {method!r} is not served here")

        # Any call shape can be answered as a stream: the body is never read.
        raw: grpc.RpcMethodHandler = grpc.stream_stream_rpc_method_handler(unimplemented)
        return self._wrapping.wrap(UNKNOWN, UNKNOWN, raw)
