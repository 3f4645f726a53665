"""Scale-out benchmark (skeleton): a one-row Predict direct to a replica vs through HAProxy.

Run: `.venv/bin/python bench/scale.py` (loopback, about a minute, one markdown table).
Needs Debian's haproxy (scripts/ensure-tools.sh installs it).

Three `gatenet serve` processes (each its own in-memory store) and HAProxy with
deploy/haproxy/haproxy.cfg as shipped, each on free loopback ports. Every replica trains
its own copy of one XOR model under the same name, so a Predict by name answers on
whichever replica the name hashes to. Calls are sequential from one client: the figures are the
latency of one call, not throughput. Every process shares this machine's cores, HAProxy
and the client included, so the extra hop costs CPU here that it would not on its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc

from gatenet.client import Client, ClientError

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "deploy" / "haproxy" / "haproxy.cfg"
GATENET = Path(sys.executable).parent / "gatenet"
REPLICAS = ("gatenet1", "gatenet2", "gatenet3")
MODEL = "bench-xor"  # trained on every replica under this name
ROW = [[0.0, 1.0]]
ROUNDS = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what: str, ready: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (OSError, grpc.RpcError, ClientError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def process(
    args: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None
) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


class _CallDetails(
    namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class ModelIdHeader(grpc.UnaryUnaryClientInterceptor):
    """`x-model-id: <request.model>` on calls that name a model, unless already there."""

    def intercept_unary_unary(self, continuation, details, request):
        metadata = list(details.metadata or ())
        model = getattr(request, "model", "")
        if model and not any(key == "x-model-id" for key, _ in metadata):
            metadata.append(("x-model-id", model))
        return continuation(_CallDetails(*details[:2], metadata, *details[3:]), request)


def latencies(client: Client, calls: int, warmup: int) -> list[float]:
    """Seconds per sequential one-row Predict, after warmup calls."""
    for _ in range(warmup):
        client.predict(MODEL, ROW)
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        client.predict(MODEL, ROW)
        out.append(time.perf_counter() - start)
    return out


def row(path: str, seconds: list[float]) -> str:
    q = statistics.quantiles(seconds, n=100)
    ms = [1000 * v for v in (statistics.median(seconds), q[89], q[98])]
    return f"| {path} | {len(seconds)} | " + " | ".join(f"{v:.3f}" for v in ms) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per path")
    parser.add_argument("--warmup", type=int, default=200)
    options = parser.parse_args()
    haproxy = shutil.which("haproxy")
    if not haproxy:
        raise SystemExit("haproxy not found: scripts/ensure-tools.sh installs it")

    # Each replica its own in-memory store, where the server has --store (else the default).
    serve_help = subprocess.run([str(GATENET), "serve", "--help"], capture_output=True, text=True)
    store = ["--store", "memory"] if "--store" in serve_help.stdout else []
    with tempfile.TemporaryDirectory(prefix="gatenet-bench-scale-") as tmp, ExitStack() as stack:
        targets = {}
        for name in REPLICAS:
            port, metrics = free_port(), free_port()
            args = [str(GATENET), "serve", "--host", "127.0.0.1", "--port", str(port)]
            args += ["--metrics-host", "127.0.0.1", "--metrics-port", str(metrics)]
            args += ["--log-level", "WARNING", *store]
            stack.enter_context(process(args, Path(tmp) / f"{name}.log", cwd=tmp))
            targets[name] = f"127.0.0.1:{port}"
        for name, target in targets.items():
            with Client(target, timeout=5) as c:
                wait(f"{name} SERVING", lambda c=c: c.health() == "SERVING")
            with Client(target, timeout=60) as c:
                c.train(gate="xor", name=MODEL, seed=1)

        lb_port, stats_port = free_port(), free_port()
        env = dict(os.environ, LB_GRPC_ADDR=f"127.0.0.1:{lb_port}")
        env["LB_STATS_ADDR"] = f"127.0.0.1:{stats_port}"
        env.update({f"{name.upper()}_ADDR": t for name, t in targets.items()})
        stack.enter_context(process([haproxy, "-db", "-f", str(CONFIG)], Path(tmp) / "lb", env))
        lb = f"127.0.0.1:{lb_port}"
        with Client(lb, timeout=5) as c:  # round-robin health through HAProxy
            wait("HAProxy", lambda: all(c.health() == "SERVING" for _ in REPLICAS))

        channel = stack.enter_context(
            grpc.intercept_channel(grpc.insecure_channel(lb), ModelIdHeader())
        )
        clients = {
            "direct to one replica": Client(targets["gatenet1"], timeout=10),
            "through HAProxy (hash on x-model-id)": Client(lb, channel=channel, timeout=10),
        }
        results: dict[str, list[float]] = {path: [] for path in clients}
        for client in clients.values():
            stack.enter_context(client)
            latencies(client, 0, options.warmup)
        # Paired rounds, order alternating, so drift on the shared cores hits both paths.
        for i in range(ROUNDS):
            for path in list(clients)[:: 1 if i % 2 else -1]:
                results[path] += latencies(clients[path], options.calls // ROUNDS, 0)

        cores = os.cpu_count()
        print(f"One-row Predict, sequential; {cores} cores shared by 3 replicas, HAProxy, client.")
        print()
        print("| path | calls | p50 ms | p90 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for path, seconds in results.items():
            print(row(path, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
