"""The one table from domain errors to gRPC status codes, and the one place that applies it.

Handlers raise; only set_status sets an error status. It sets code and details
and lets the handler end rather than call grpc.aio's context.abort: abort sends
the status at once, before the observation around the call (observe.py) has
counted and logged it. Internal errors are logged with their traceback and reach
the client as "internal error" only.
"""

from __future__ import annotations

import logging

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
    errors.DataLoss: grpc.StatusCode.DATA_LOSS,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def code_for(error: errors.GatenetError) -> grpc.StatusCode:
    """The status code for a domain error (its nearest mapped base class)."""
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.INTERNAL


def set_status(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> None:
    """Set the status for `exc`; the server sends it when the handler returns."""
    if isinstance(exc, errors.GatenetError):
        context.set_code(code_for(exc))
        context.set_details(str(exc))
        return
    if isinstance(exc, NotImplementedError):  # a stock servicer without this method
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details(f"{method} is not implemented by this server")
        return
    log.error("internal error in %s", method, exc_info=exc)
    context.set_code(grpc.StatusCode.INTERNAL)
    context.set_details("internal error")
