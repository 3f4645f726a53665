"""The one table from domain errors to gRPC status codes, and the wrappers that apply it.

Handlers raise; only these wrappers abort, so an abort is never swallowed by a
catch-all (which grpcio would turn into UNKNOWN). Internal errors are logged
with their traceback and reach the client as "internal error" only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

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


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> NoReturn:
    if isinstance(exc, errors.GatenetError):
        context.abort(code_for(exc), str(exc))
    log.error("internal error in %s", method, exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, "internal error")


def unary(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a unary handler so domain errors become their status code."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            _abort(context, exc, fn.__name__)

    return wrapper


def streaming(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Wrap a server-streaming handler the same way."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            _abort(context, exc, fn.__name__)

    return wrapper
