"""Every HTTP route registers through Routes, which wraps it once, as handlers.py does for gRPC.

The wrapper around a request, outside in: observe (metrics and the log line) ->
refuse while the server stops (the gRPC port's drain state, so both ports refuse
together) -> auth (the role of the gRPC method the route stands for) -> the handler
-> the one error-to-status mapping (status.py). Paths no route matches, and methods
a route does not take, are answered here too, counted under bounded labels.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from gatenet.server.errors import Cancelled, InvalidArgument, Unavailable, clip
from gatenet.server.http.observe import CLIENT_GONE, RouteObserver
from gatenet.server.http.status import BodyTooLarge, error_response, for_error
from gatenet.server.metrics import Metrics
from gatenet.server.rpc.auth import Auth
from gatenet.server.rpc.drain import Drain

if TYPE_CHECKING:  # imported only when tracing is on (the composition root decides)
    from gatenet.server.tracing import Tracing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# How a route answers an error raised around or in its handler (status.for_error's signature).
OnError = Callable[[Exception, str], web.Response]
UNMATCHED = "unmatched"  # the route label of paths no route matches


class Routes:
    """Puts wrapped handlers on an aiohttp application."""

    def __init__(
        self,
        app: web.Application,
        metrics: Metrics,
        auth: Auth | None,
        drain: Drain,
        tracing: Tracing | None = None,
    ) -> None:
        self._app = app
        self._tracing = tracing
        self._metrics = metrics
        self._auth = auth
        self._drain = drain
        self._in_flight = 0
        self._idle: asyncio.Event | None = None  # made by settled(), set when none is in flight

    def add(
        self,
        method: str,
        route: str,
        handler: Handler,
        needs: str | None,
        quiet: bool = False,
        on_error: OnError = for_error,
    ) -> None:
        """Serve `method route` with `handler`; `needs` is the gRPC method whose role the
        route needs (None: open, as health is); `on_error` answers its errors (/v1 answers in
        grpc-gateway's shape)."""
        observer = RouteObserver(self._metrics, route, quiet)
        wrapped = self._wrap(observer, handler, needs, on_error)
        # Chosen here: with tracing off no request pays for it; open routes (the health
        # probes) are not traced, as on the gRPC port: probes would bury the traces people read.
        if self._tracing is not None and needs is not None:
            from gatenet.server.http.traced import traced

            wrapped = traced(self._tracing, route, wrapped)
        self._app.router.add_route(method, route, wrapped)
        # The same path with another method: 405, saying which one it takes.
        self._app.router.add_route("*", route, self._wrap(observer, _only(method, route), None))

    def add_unmatched(self) -> None:
        """Answer every other path 404, counted under one label; call after the last add()."""
        observer = RouteObserver(self._metrics, UNMATCHED, quiet=False)
        self._app.router.add_route("*", "/{path:.*}", self._wrap(observer, _no_route, None))

    async def settled(self, timeout: float) -> None:
        """Return once no request is in flight, or after `timeout` seconds."""
        if not self._in_flight:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def _wrap(
        self,
        observer: RouteObserver,
        handler: Handler,
        needs: str | None,
        on_error: OnError = for_error,
    ) -> Handler:
        drain = self._drain
        auth = self._auth if needs is not None else None
        role = needs or ""  # the gRPC method whose role the route needs

        # One coroutine per request, every layer inline: each await of another coroutine is a
        # frame and an object more per call, as much as a 1-row infer's decode.
        async def call(request: web.Request) -> web.StreamResponse:
            start = observer.begin()
            try:
                drain.admit()
            except Unavailable as exc:  # the drain: this client must go elsewhere
                refused = on_error(exc, observer.route)
                refused.force_close()  # and not on this connection
                observer.finish(request.method, refused.status, start)
                return refused
            self._in_flight += 1
            try:
                try:
                    if auth is not None:
                        header = request.headers.get("Authorization")
                        auth.check(role, () if header is None else (("authorization", header),))
                    response = await handler(request)
                except asyncio.CancelledError:  # the client went away (or the grace ran out)
                    observer.finish(request.method, CLIENT_GONE, start)
                    raise
                except Exception as exc:  # noqa: BLE001 - mapped to a status right here
                    response = on_error(exc, observer.route)
                observer.finish(request.method, response.status, start)
                return response
            finally:
                self._in_flight -= 1
                if not self._in_flight and self._idle is not None:
                    self._idle.set()

        return call


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request's body, at most `limit` bytes (--max-message-bytes) else 413."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(declared, limit)
    try:
        content = request.content
        if content.is_eof():  # all of it has arrived (a small body, as a rule): no await
            body = content.read_nowait()
            if len(body) > limit:  # a chunked one
                raise BodyTooLarge(None, limit)
            return body
        return await request.read()
    except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past client_max_size
        raise BodyTooLarge(None, limit) from None
    except (HttpProcessingError, RequestPayloadError) as exc:  # e.g. bad Content-Encoding
        reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise InvalidArgument("body", f"cannot be read: {clip(reason.strip())}") from None
    except ConnectionError:  # the client went away mid-body (or the grace ran out)
        raise Cancelled("body: the connection closed before the whole body arrived") from None


def _only(method: str, route: str) -> Handler:
    async def not_allowed(request: web.Request) -> web.StreamResponse:
        return error_response(
            405,
            f"method {clip(request.method)} is not allowed on {route}; use {method}",
            Allow=method,
        )

    return not_allowed


async def _no_route(request: web.Request) -> web.StreamResponse:
    return error_response(
        404,
        f"path {clip(request.path)!r} is not served here; the V2 REST routes start with /v2"
        ", gatenet's RPCs with /v1",
    )
