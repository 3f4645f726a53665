"""gRPC metrics in the go-grpc-prometheus shape and a log line per call, for every method.

Every call on the port is observed by the wrapper handlers.py puts around its
method handler. The code recorded is the one the client really got: OK, the code
set for a raised error, CANCELLED or DEADLINE_EXCEEDED when the call ended
underneath the handler. Metric children are looked up once per method, so a
Predict pays a few increments.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

import grpc

from gatenet.server.metrics import Metrics

log = logging.getLogger("gatenet.access")

# Handlers add fields (e.g. model_id) to their call's log line through this.
log_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "gatenet_log_fields", default=None
)

# Successful calls of these methods log at DEBUG: they are the high-volume hot path.
_QUIET_METHODS = frozenset({"Predict", "Check", "ModelInfer"})


def note(**fields: Any) -> None:
    """Attach fields to the current call's log line."""
    current = log_fields.get()
    if current is not None:
        current.update(fields)


def grpc_type(handler: grpc.RpcMethodHandler) -> str:
    """The grpc_type label of a method handler."""
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def final_code(context: grpc.aio.ServicerContext, ended: BaseException | None) -> grpc.StatusCode:
    """The code the client got, from how the handler ended (`ended` is None when it returned)."""
    if isinstance(ended, (asyncio.CancelledError, GeneratorExit)):
        # grpc.aio cancels the handler when the call ends underneath it.
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if code is not None and code is not grpc.StatusCode.OK:
        return code
    return grpc.StatusCode.UNKNOWN if ended is not None else grpc.StatusCode.OK


class MethodObserver:
    """One method's metric children and log settings."""

    def __init__(self, metrics: Metrics, service: str, method: str, kind: str) -> None:
        labels = (kind, service, method)
        self.full_method = f"/{service}/{method}"
        self.started = metrics.started.labels(*labels)
        self.seconds = metrics.handling_seconds.labels(*labels)
        self.received = metrics.msg_received.labels(*labels)
        self.sent = metrics.msg_sent.labels(*labels)
        self._handled = metrics.handled
        self._labels = labels
        self._by_code: dict[grpc.StatusCode, Any] = {}
        self._ok = metrics.handled.labels(*labels, grpc.StatusCode.OK.name)  # no enum hash
        self.quiet = method in _QUIET_METHODS

    def begin(self) -> float:
        self.started.inc()
        log_fields.set({})
        return time.perf_counter()

    def finish(
        self, context: grpc.aio.ServicerContext, start: float, ended: BaseException | None
    ) -> None:
        code = final_code(context, ended)
        elapsed = time.perf_counter() - start
        child: Any
        if code is grpc.StatusCode.OK:
            child = self._ok
        else:
            child = self._by_code.get(code)
            if child is None:
                child = self._by_code[code] = self._handled.labels(*self._labels, code.name)
        child.inc()
        self.seconds.observe(elapsed)
        level = logging.DEBUG if self.quiet and code is grpc.StatusCode.OK else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "rpc",
                extra={
                    "fields": {
                        "method": self.full_method,
                        "code": code.name,
                        "ms": round(elapsed * 1000, 3),
                        **(log_fields.get() or {}),
                    }
                },
            )
