"""The traced HTTP routes: a SERVER span around every request's wrapped handler (routes.py).

Routes uses this only when tracing is on (the composition root passes a Tracing), so with
tracing off no request pays for it. The span follows OpenTelemetry's HTTP conventions: it is
named `METHOD route-template`, is the child of the request's `traceparent` header, and
carries the method, route, path, status code, body sizes and the model id the call noted.
"""

from __future__ import annotations

from aiohttp import web
from opentelemetry.trace import Status, StatusCode

from gatenet.server.http.routes import Handler
from gatenet.server.rpc.observe import log_fields
from gatenet.server.tracing import Tracing


def traced(tracing: Tracing, route: str, handler: Handler) -> Handler:
    """`handler` (a Routes wrapper: it answers every error itself) run inside a span."""

    async def call(request: web.Request) -> web.StreamResponse:
        attributes = {
            "http.request.method": request.method,
            "http.route": route,
            "url.path": request.path,
        }
        name = f"{request.method} {route}"
        with tracing.server_span(name, request.headers, attributes) as span:
            response = await handler(request)
            if span.is_recording():
                span.set_attribute("http.response.status_code", response.status)
                if request.content_length is not None:
                    span.set_attribute("http.request.body.size", request.content_length)
                if response.body_length:
                    span.set_attribute("http.response.body.size", response.body_length)
                model_id = (log_fields.get() or {}).get("model_id")
                if model_id:
                    span.set_attribute("gatenet.model_id", str(model_id))
                if response.status >= 500:  # the server's failure; a 4xx is the caller's
                    span.set_status(Status(StatusCode.ERROR, str(response.status)))
            return response

    return call
