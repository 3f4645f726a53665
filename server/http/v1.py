"""gatenet's own RPCs on the HTTP port: POST /v1/<Method> for every method the gateway
(gateway.py) derives from GateService's descriptor, each needing that method's role.

Unary methods answer application/json; streaming ones application/x-ndjson, one message a
line. Errors raised around a handler (auth, the drain, a body too large) answer in the same
grpc-gateway shape as the gateway's own: {"code", "message", "details"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
from aiohttp import web

from gatenet.server import errors
from gatenet.server.http.gateway import (
    NDJSON,
    Gateway,
    GatewayMethod,
    HttpCall,
    error_json,
    peer_address,
)
from gatenet.server.http.routes import Handler, Routes, read_body
from gatenet.server.http.status import for_error
from gatenet.server.rpc.status import code_for

_JSON = "application/json"


class V1Routes:
    """The /v1 handlers over the gateway."""

    def __init__(self, gateway: Gateway, max_body: int) -> None:
        self._gateway = gateway
        self._max_body = max_body

    def add_to(self, routes: Routes) -> None:
        """A route per method the gateway serves; Predict's is quiet, as on the gRPC port."""
        for name in self._gateway.names():
            method = self._gateway.method(name)
            assert method is not None
            handler = self._stream(method) if method.streaming else self._unary(method)
            routes.add(
                "POST",
                f"/v1/{name}",
                handler,
                method.full_name,
                quiet=name == "Predict",
                on_error=_error,
            )

    def _unary(self, method: GatewayMethod) -> Handler:
        async def unary(request: web.Request) -> web.StreamResponse:
            body = await read_body(request, self._max_body)
            status, answer = await method.unary(body, _call(request))
            return web.Response(status=status, body=answer, content_type=_JSON)

        return unary

    def _stream(self, method: GatewayMethod) -> Handler:
        async def stream(request: web.Request) -> web.StreamResponse:
            body = await read_body(request, self._max_body)
            # The first line awaited: a call refused outright gets its error's status.
            status, lines = await method.opened(body, _call(request))
            response = web.StreamResponse(status=status, headers={"Content-Type": NDJSON})
            # aclosing: however this ends, the handler behind the lines is closed (TrainStream
            # then stops its training).
            async with contextlib.aclosing(lines):
                try:
                    await response.prepare(request)
                    async for line in lines:
                        await response.write(line)
                    await response.write_eof()
                except ConnectionError:  # the client went away: as if the call were cancelled
                    raise asyncio.CancelledError from None
            return response

        return stream


def _call(request: web.Request) -> HttpCall:
    """What the gateway knows of a request: its peer, as gRPC writes one, and its headers."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    host, port = (peer[0], peer[1]) if peer else (request.remote or "unknown", 0)
    headers = [(name.lower(), value) for name, value in request.headers.items()]
    return HttpCall(peer=peer_address(host, port), headers=headers)


def _error(exc: Exception, route: str) -> web.Response:
    """An error raised around a /v1 handler, in grpc-gateway's shape: the status the other
    routes give it (for_error logs an internal one), the gRPC code the gRPC port would send."""
    response = for_error(exc, route)
    message = json.loads(response.body)["error"]  # type: ignore[arg-type]
    if isinstance(exc, errors.GatenetError):
        code = code_for(exc)
    else:
        code = grpc.StatusCode.INTERNAL if response.status == 500 else grpc.StatusCode.UNKNOWN
    response.body = error_json(code, message)
    return response
