"""Domain errors as HTTP statuses with a JSON body `{"error": "..."}`: the one mapping.

The statuses are grpc-gateway's for the gRPC code each error has on the gRPC port
(rpc/status.py), so both ports say the same thing. Internal errors are logged with
their traceback and reach the client as "internal error" only.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from gatenet.server import errors
from gatenet.server.http.codes import HTTP_STATUS
from gatenet.server.rpc.status import code_for

log = logging.getLogger("gatenet.server")


class BodyTooLarge(errors.ResourceExhausted):
    """A request body past --max-message-bytes: 413."""

    def __init__(self, size: int | None, limit: int) -> None:
        given = "a chunked body" if size is None else f"{size} bytes"
        super().__init__(f"body: {given} exceeds the limit --max-message-bytes {limit}")


def error_response(status: int, message: str, **headers: str) -> web.Response:
    """`{"error": message}` with this status."""
    return web.Response(
        status=status,
        body=json.dumps({"error": message}).encode(),
        content_type="application/json",
        headers=headers or None,
    )


def for_error(exc: Exception, route: str) -> web.Response:
    """The response for an error a handler raised."""
    if isinstance(exc, BodyTooLarge):
        return error_response(413, str(exc))
    if isinstance(exc, errors.GatenetError):
        status = HTTP_STATUS[code_for(exc)]
        if status == 401:  # RFC 6750: say which scheme to use
            return error_response(status, str(exc), **{"WWW-Authenticate": "Bearer"})
        return error_response(status, str(exc))
    if isinstance(exc, web.HTTPException):  # aiohttp's own (e.g. a body over client_max_size)
        return error_response(exc.status, exc.reason)
    log.error("internal error in %s", route, exc_info=exc)
    return error_response(500, "internal error")
