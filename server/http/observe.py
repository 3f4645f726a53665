"""HTTP metrics (requests by route template, method and status; latency) and a log line per
request, in the shape rpc/observe.py gives gRPC calls."""

from __future__ import annotations

import logging
import time
from typing import Any

from gatenet.server.metrics import Metrics
from gatenet.server.rpc.observe import log_fields

log = logging.getLogger("gatenet.access")

# Methods counted under their own name; any other token a client sends counts as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_GONE = 499  # nginx's code for a request whose client went away before the answer


class RouteObserver:
    """One route's metric children (per method and status) and log settings."""

    def __init__(self, metrics: Metrics, route: str, quiet: bool) -> None:
        self.route = route
        self._metrics = metrics
        # (method, status) -> the request counter's and the latency histogram's children:
        # labels resolved once, not per request.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._quiet = quiet  # successful requests log at DEBUG: the high-volume ones

    def begin(self) -> float:
        log_fields.set({})
        return time.perf_counter()

    def finish(self, method: str, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        children = self._children.get((method, status))
        if children is None:
            children = self._resolve(method, status)
        count, seconds = children
        count.inc()
        seconds.observe(elapsed)
        level = logging.DEBUG if self._quiet and status < 400 else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "http",
                extra={
                    "fields": {
                        "method": f"{method if method in METHODS else 'other'} {self.route}",
                        "code": status,
                        "ms": round(elapsed * 1000, 3),
                        **(log_fields.get() or {}),
                    }
                },
            )

    def _resolve(self, method: str, status: int) -> tuple[Any, Any]:
        label = method if method in METHODS else "other"
        children = (
            self._metrics.http_requests.labels(self.route, label, str(status)),
            self._metrics.http_seconds.labels(self.route, label),
        )
        if label == method:  # kept: a bounded set of keys (a client's own methods are not)
            self._children[method, status] = children
        return children
