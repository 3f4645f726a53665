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
        self._counts: dict[tuple[str, int], Any] = {}
        self._seconds: dict[str, Any] = {}
        self._quiet = quiet  # successful requests log at DEBUG: the high-volume ones

    def begin(self) -> float:
        log_fields.set({})
        return time.perf_counter()

    def finish(self, method: str, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        method = method if method in METHODS else "other"
        count = self._counts.get((method, status))
        if count is None:
            count = self._counts[(method, status)] = self._metrics.http_requests.labels(
                self.route, method, str(status)
            )
        count.inc()
        seconds = self._seconds.get(method)
        if seconds is None:
            seconds = self._seconds[method] = self._metrics.http_seconds.labels(self.route, method)
        seconds.observe(elapsed)
        level = logging.DEBUG if self._quiet and status < 400 else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "http",
                extra={
                    "fields": {
                        "method": f"{method} {self.route}",
                        "code": status,
                        "ms": round(elapsed * 1000, 3),
                        **(log_fields.get() or {}),
                    }
                },
            )
