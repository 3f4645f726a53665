"""The traced registration: a SERVER span around every call's observed wrapper (handlers.py).

The composition root registers through TracedWrappingServer instead of WrappingServer only when
tracing is on, so with tracing off no call pays anything for it, not even a branch.
The span is named as OpenTelemetry's gRPC conventions say
(`gatenet.v1.GateService/Train`), is the child of the caller's `traceparent` metadata,
and carries the rpc.* attributes, the final status code, the request and response sizes
and the model id the call noted (observe.note) or answered with.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory

from gatenet.server.metrics import Metrics
from gatenet.server.rpc.auth import Auth
from gatenet.server.rpc.handlers import _FACTORIES, WrappingServer, _behavior
from gatenet.server.rpc.observe import final_code, log_fields
from gatenet.server.tracing import Tracing, set_grpc_code

Wrapper = Callable[..., Any]
# Probes every few seconds (kubelet, HAProxy, compose) would bury the traces people read.
UNTRACED = frozenset({"grpc.health.v1.Health"})


class TracedWrappingServer(WrappingServer):
    """A WrappingServer whose every method handler also runs inside a span."""

    def __init__(
        self,
        server: grpc.aio.Server,
        metrics: Metrics,
        auth: Auth | None,
        max_send: int,
        tracing: Tracing,
    ) -> None:
        super().__init__(server, metrics, auth, max_send)
        self._tracing = tracing

    def wrap(
        self, service: str, method: str, handler: grpc.RpcMethodHandler
    ) -> grpc.RpcMethodHandler:
        """WrappingServer.wrap's handler, its behaviour inside a span."""
        wrapped = super().wrap(service, method, handler)
        if service in UNTRACED:
            return wrapped
        behavior = _behavior(wrapped)
        streams = inspect.isasyncgenfunction(behavior)
        shape = (wrapped.request_streaming, wrapped.response_streaming)
        return _FACTORIES[shape](
            traced(self._tracing, service, method, wrapped, behavior, streams),
            request_deserializer=None,
            response_serializer=wrapped.response_serializer,
        )


def traced(
    tracing: Tracing,
    service: str,
    method: str,
    handler: grpc.RpcMethodHandler,
    wrapper: Wrapper,
    streams: bool,
) -> Wrapper:
    """`wrapper` run inside a span; `streams`: it is an async generator of responses."""
    name = f"{service}/{method}"
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
    unary_in = not handler.request_streaming
    parse = _raw_response_parser(service, method) if handler.response_serializer is None else None

    def finish(span: Any, context: Any, ended: BaseException | None, request: Any) -> None:
        if not span.is_recording():
            return
        code = final_code(context, ended)
        set_grpc_code(span, code.value[0], code.name)
        if unary_in and isinstance(request, bytes):
            span.set_attribute("rpc.request.size", len(request))
        model_id = (log_fields.get() or {}).get("model_id")
        if model_id:
            span.set_attribute("gatenet.model_id", str(model_id))

    def answered(span: Any, response: Any, size: int) -> None:
        """A response's size and the model id it names, if the call noted none."""
        if not span.is_recording() or response is None:
            return
        span.set_attribute("rpc.response.size", size)
        if not (log_fields.get() or {}).get("model_id"):
            message = (
                parse(response) if parse is not None and isinstance(response, bytes) else response
            )
            model_id = getattr(message, "model_id", None)
            if model_id:
                span.set_attribute("gatenet.model_id", model_id)

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        with tracing.server_span(name, context.invocation_metadata() or (), attributes) as span:
            try:
                response = await wrapper(request, context)
            except BaseException as exc:
                finish(span, context, exc, request)
                raise
            answered(span, response, _size(response))
            finish(span, context, None, request)
            return response

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        with tracing.server_span(name, context.invocation_metadata() or (), attributes) as span:
            size, last = 0, None
            try:
                async with contextlib.aclosing(wrapper(request, context)) as out:
                    async for last in out:
                        size += _size(last)
                        yield last
            except BaseException as exc:
                finish(span, context, exc, request)
                raise
            answered(span, last, size)
            finish(span, context, None, request)

    return stream if streams else unary


def _size(response: Any) -> int:
    if response is None:
        return 0
    return len(response) if isinstance(response, bytes) else int(response.ByteSize())


def _raw_response_parser(service: str, method: str) -> Callable[[bytes], Any] | None:
    """The response message's parser of a handler that answers serialized bytes (Predict)."""
    try:
        found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
    except KeyError:
        return None
    parse: Callable[[bytes], Any] = message_factory.GetMessageClass(found.output_type).FromString
    return parse
