"""W3C trace context for calls: `traceparent` from the caller's current span, if any.

OpenTelemetry is optional for the client: without opentelemetry-api installed, or
with no span current, calls carry no trace headers. With it, a call made inside a
span carries that span's `traceparent` (and `tracestate`), so the server's span of the
call joins the caller's trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Metadata = tuple[tuple[str, str], ...]

_inject: Callable[[dict[str, str]], Any] | None = None
_looked = False


def _injector() -> Callable[[dict[str, str]], Any] | None:
    """The global propagator's inject, looked up once (None without opentelemetry-api)."""
    global _inject, _looked
    if not _looked:
        _looked = True
        try:
            from opentelemetry import propagate
        except ImportError:
            return None
        _inject = propagate.inject
    return _inject


def trace_headers() -> Metadata:
    """The current span's trace headers as call metadata; () without one."""
    inject = _injector()
    if inject is None:
        return ()
    carrier: dict[str, str] = {}
    inject(carrier)
    return tuple(carrier.items())
