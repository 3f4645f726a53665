"""The one table from domain errors to gRPC status codes, and the wrappers that apply it.

Handlers raise; only these wrappers set an error status, so it is never swallowed
by a catch-all. They set code and details and end the handler rather than call
grpc.aio's context.abort: abort sends the status at once, before the
observing wrapper (observe.py) has counted and logged the call, so a client could
see its error before the server's metrics do. Internal errors are logged with
their traceback and reach the client as "internal error" only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from gatenet.server import errors

log = logging.getLogger("gatenet.server")

_CODES: dict[type[errors.GatenetError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def code_for(error: errors.GatenetError) -> grpc.StatusCode:
    """The status code for a domain error (its nearest mapped base class)."""
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.INTERNAL


def _fail(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    """Set the status for `exc`; the server sends it when the handler returns."""
    if isinstance(exc, errors.GatenetError):
        context.set_code(code_for(exc))
        context.set_details(str(exc))
        return
    log.error("internal error in %s", method, exc_info=exc)
    context.set_code(grpc.StatusCode.INTERNAL)
    context.set_details("internal error")


def unary(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an async unary handler so domain errors become their status code."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            _fail(context, exc, fn.__name__)
            return None  # grpc.aio sends no message with a non-OK code

    return wrapper


def streaming(fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """Wrap an async-generator server-streaming handler the same way."""

    @functools.wraps(fn)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            # aclosing: a stream that ends early closes the handler too, running its finally now.
            async with contextlib.aclosing(fn(self, request, context)) as responses:
                async for response in responses:
                    yield response
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            _fail(context, exc, fn.__name__)

    return wrapper
