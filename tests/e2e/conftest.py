"""End-to-end fixtures: gatenet as a real subprocess and the real Prometheus scraping it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gatenet_testing.e2e_support import (
    BIN,
    REPO,
    Gatenet,
    Prometheus,
    find_tool,
    free_port,
    http_get,
    scrape_config_for,
    stop,
    wait_for,
)


def _serving(proc: subprocess.Popen[bytes], target: str, log: Path) -> bool:
    if proc.poll() is not None:
        pytest.fail(f"gatenet serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=1
        )
    return reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def gatenet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gatenet]:
    """`gatenet serve` started as a real process on free loopback ports, SERVING."""
    exe = BIN / "gatenet"
    if not exe.exists():
        pytest.fail(f"{exe} missing: install the project into this venv (make test does)")
    port, metrics_port, http_port = free_port(), free_port(), free_port()
    folder = tmp_path_factory.mktemp("gatenet")
    log = folder / "serve.log"
    args = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(folder / "data")]  # its own, empty store
    args += ["--metrics-host", "127.0.0.1", "--metrics-port", str(metrics_port)]
    args += ["--http-port", str(http_port)]
    args += ["--grace-seconds", "1", "--log-format", "text", "--log-level", "WARNING"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        target = f"127.0.0.1:{port}"
        wait_for("gatenet SERVING", lambda: _serving(proc, target, log), 90, log)
        yield Gatenet(target, metrics_port, log, http_port)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def prometheus(gatenet: Gatenet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus scraping the gatenet subprocess every second, ready."""
    exe = find_tool("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(scrape_config_for(gatenet.metrics_port))
    port = free_port()
    log = tmp / "prometheus.log"
    args = [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}"]
    args += [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        prom = Prometheus(port, log)

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            return http_get(f"{prom.url}/-/ready") is not None

        wait_for("prometheus ready", ready, 60, log)
        yield prom
    finally:
        stop(proc)
