"""The HTTP port: an aiohttp application on the gRPC server's event loop, bound when built
(so the port is known, as gRPC's is), serving from start(), drained with the gRPC port."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from gatenet.server.config import Settings
from gatenet.server.http.gateway import Gateway
from gatenet.server.http.routes import Routes
from gatenet.server.http.v1 import V1Routes
from gatenet.server.http.v2 import V2Routes
from gatenet.server.metrics import Metrics
from gatenet.server.plane import DataPlane
from gatenet.server.rpc.auth import Auth
from gatenet.server.rpc.drain import Drain
from gatenet.server.rpc.service import GateService

if TYPE_CHECKING:  # imported only when tracing is on (the composition root decides)
    from gatenet.server.tracing import Tracing

_BACKLOG = 1024
# Once requests in flight have ended (or the grace has passed), what a response being written
# gets before its connection is cut.
_LAST_WRITE_SECONDS = 1.0


class _ClientFaults(logging.LoggerAdapter):
    """aiohttp's own log, at DEBUG: past the routes (which catch every error of theirs) it
    reports only what clients got wrong (a malformed request line, a bad header), answered
    400, which is no operator's alarm."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); OSError names the flags."""
    host = host.strip("[]")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=_BACKLOG)
    except OSError as exc:
        raise OSError(
            f"cannot bind HTTP to {host}:{port} (--host/--http-port): {exc.strerror or exc}"
        ) from None


class HttpServer:
    """The V2 REST and /v1 routes behind the shared protections, on their own port."""

    def __init__(
        self,
        settings: Settings,
        plane: DataPlane,
        metrics: Metrics,
        auth: Auth | None,
        drain: Drain,
        ready: Callable[[], Awaitable[bool]],
        tls: ssl.SSLContext | None,
        service: GateService,
        tracing: Tracing | None = None,
    ) -> None:
        # client_max_size bounds a chunked body too; a declared one is refused before reading.
        self.app = web.Application(client_max_size=settings.max_message_bytes)
        self.routes = Routes(self.app, metrics, auth, drain, tracing)
        V2Routes(plane, settings.max_message_bytes, ready).add_to(self.routes)
        # gatenet's own RPCs: the gRPC servicer itself, called in-process (gateway.py).
        V1Routes(Gateway(service), settings.max_message_bytes).add_to(self.routes)
        self._tls = tls
        self._socket = _bind(settings.host, settings.http_port)
        self.port: int = self._socket.getsockname()[1]
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Serve; routes added by others (the /v1 gateway) must be in by now."""
        self.routes.add_unmatched()
        # No access log of aiohttp's own: the routes log one line per request (observe.py).
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_LAST_WRITE_SECONDS,
            # A client that hangs up cancels its request, as a gRPC client's does: a unary
            # /v1/Train stops its training instead of running on for nobody.
            handler_cancellation=True,
            logger=cast(logging.Logger, _ClientFaults(logging.getLogger("gatenet.http"), {})),
        )
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket, ssl_context=self._tls).start()

    async def stop(self, grace: float) -> None:
        """Close the port, let requests in flight finish within `grace`, then cut them.

        Not aiohttp's own graceful shutdown alone: it stops reading every connection at once,
        so a request whose body was still arriving waited out the grace and was cut. Here the
        port closes first; requests in flight (bodies too) go on, and a new request on an open
        connection meanwhile gets 503 (the drain refuses it) and the connection closes."""
        if self._runner is None:
            self._socket.close()
            return
        for site in list(self._runner.sites):
            await site.stop()
        await self.routes.settled(grace)
        await self._runner.cleanup()
