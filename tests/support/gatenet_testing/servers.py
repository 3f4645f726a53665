"""The real gatenet server in-process, on free loopback ports, for tests and fixtures."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import CollectorRegistry

from gatenet.server.app import GatenetServer, build_server
from gatenet.server.config import Settings

LOOPBACK = Settings(
    host="127.0.0.1",
    port=0,
    metrics_host="127.0.0.1",
    metrics_port=0,
    http_port=0,
    grace_seconds=0.0,
    log_level="WARNING",
    store="memory",
    drain_delay=0.0,
)


def start_server(**overrides: object) -> GatenetServer:
    """A started server on free loopback ports with a fresh metrics registry."""
    server = build_server(replace(LOOPBACK, **overrides), CollectorRegistry())
    server.start()
    return server
