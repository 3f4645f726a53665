"""HAProxy test helpers: gatenet replicas and the shipped haproxy.cfg as real processes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections import namedtuple
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from gatenet_testing.e2e_support import (
    BIN,
    DEPLOY,
    REPO,
    find_tool,
    free_port,
    http_get,
    stop,
    wait_for,
)

HAPROXY_CONFIG = DEPLOY / "haproxy" / "haproxy.cfg"
REPLICAS = ("gatenet1", "gatenet2", "gatenet3")  # the server names in haproxy.cfg
START_SECONDS = 180  # three servers importing torch at once on two shared cores


@dataclass
class Replica:
    """One `gatenet serve` process on loopback ports."""

    name: str
    proc: subprocess.Popen[bytes]
    target: str
    metrics_port: int
    log: Path
    http_port: int

    def _samples(self, name: str) -> Iterator[Any]:
        text = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics").decode()
        for family in text_string_to_metric_families(text):
            yield from (s for s in family.samples if s.name == name)

    def handled(self, method: str, code: str) -> float:
        """grpc_server_handled_total for this GateService method and code, from /metrics."""
        return sum(
            s.value
            for s in self._samples("grpc_server_handled_total")
            if s.labels.get("grpc_method") == method and s.labels.get("grpc_code") == code
        )

    def http_handled(self, route: str, code: int) -> float:
        """gatenet_http_requests_total for this route template and status, from /metrics."""
        return sum(
            s.value
            for s in self._samples("gatenet_http_requests_total")
            if s.labels.get("route") == route and s.labels.get("code") == str(code)
        )


@dataclass
class Balancer:
    """HAProxy running deploy/haproxy/haproxy.cfg, read through its /stats;csv page."""

    proc: subprocess.Popen[bytes]
    target: str
    stats_port: int
    log: Path
    http_url: str  # the HTTP front door, http://HOST:PORT

    def servers(self, backend: str = "gatenet") -> dict[str, dict[str, str]]:
        """A backend's servers as HAProxy sees them, by name: status (UP/DOWN...), check."""
        if self.proc.poll() is not None:
            pytest.fail(f"haproxy exited with {self.proc.returncode}:\n{self.log.read_text()}")
        text = http_get(f"http://127.0.0.1:{self.stats_port}/stats;csv").decode()
        rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == backend and r["svname"] in REPLICAS}

    def status(self, backend: str = "gatenet") -> dict[str, str]:
        """Each replica's status word: UP, DOWN, or a transition such as 'UP 1/2'."""
        return {name: row["status"] for name, row in self.servers(backend).items()}


def serving(replica: Replica) -> bool:
    if replica.proc.poll() is not None:
        pytest.fail(
            f"{replica.name} exited with {replica.proc.returncode}:\n{replica.log.read_text()}"
        )
    with grpc.insecure_channel(replica.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    return reply.status == health_pb2.HealthCheckResponse.SERVING


@contextmanager
def replicas(
    tmp: Path, names: tuple[str, ...] = REPLICAS, store: str = "memory"
) -> Iterator[dict[str, Replica]]:
    """`gatenet serve --store STORE` per name, on free loopback ports, all SERVING."""
    exe = BIN / "gatenet"
    if not exe.exists():
        pytest.fail(f"{exe} missing: install the project into this venv (make test does)")
    extra = ["--store", store]
    with ExitStack() as stack:
        started: dict[str, Replica] = {}
        for name in names:
            port, metrics_port, http_port = free_port(), free_port(), free_port()
            log = tmp / f"{name}.log"
            args = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)]
            args += ["--http-port", str(http_port)]
            args += ["--metrics-host", "127.0.0.1", "--metrics-port", str(metrics_port)]
            args += ["--grace-seconds", "1", "--log-format", "text", "--log-level", "WARNING"]
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [*args, *extra], stdout=out, stderr=subprocess.STDOUT, cwd=tmp
                )
            stack.callback(stop, proc)
            started[name] = Replica(name, proc, f"127.0.0.1:{port}", metrics_port, log, http_port)
        for replica in started.values():  # started together: the waits overlap
            wait_for(f"{replica.name} SERVING", lambda r=replica: serving(r), START_SECONDS)
        yield started


@contextmanager
def balancer(
    tmp: Path, addresses: dict[str, str], http_addresses: dict[str, str] | None = None
) -> Iterator[Balancer]:
    """HAProxy with the shipped config, unchanged, pointed at addresses (name -> host:port)
    for gRPC and http_addresses for HTTP (default: the gRPC addresses, checked and failing)."""
    exe = find_tool("haproxy")
    port, stats_port, http_port = free_port(), free_port(), free_port()
    env = dict(os.environ)
    env["LB_GRPC_ADDR"] = f"127.0.0.1:{port}"
    env["LB_HTTP_ADDR"] = f"127.0.0.1:{http_port}"
    env["LB_STATS_ADDR"] = f"127.0.0.1:{stats_port}"
    for name, address in addresses.items():
        env[f"{name.upper()}_ADDR"] = address
    for name, address in (http_addresses or addresses).items():
        env[f"{name.upper()}_HTTP_ADDR"] = address
    log = tmp / "haproxy.log"
    # -db: stay in the foreground, so the test owns the process and stop() ends it.
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "-db", "-f", str(HAPROXY_CONFIG)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
    try:
        lb = Balancer(proc, f"127.0.0.1:{port}", stats_port, log, f"http://127.0.0.1:{http_port}")
        wait_for("haproxy stats page", lambda: lb.servers(), 30, log)
        yield lb
    finally:
        stop(proc)


class _CallDetails(
    namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class ModelIdHeader(grpc.UnaryUnaryClientInterceptor):
    """Adds `x-model-id: <request.model>` to calls that name a model, unless already there."""

    def intercept_unary_unary(self, continuation, details, request):
        metadata = list(details.metadata or ())
        model = getattr(request, "model", "")
        if model and not any(key == "x-model-id" for key, _ in metadata):
            metadata.append(("x-model-id", model))
        return continuation(
            _CallDetails(
                details.method,
                details.timeout,
                metadata,
                details.credentials,
                details.wait_for_ready,
                details.compression,
            ),
            request,
        )
