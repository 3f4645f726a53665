"""Scale-out benchmark: replicas over Redis behind HAProxy, against direct calls and one replica.

Run: `.venv/bin/python bench/scale.py` (loopback, a couple of minutes, one markdown table).
Needs Debian's haproxy and redis-server (scripts/ensure-tools.sh installs them).

Three `gatenet serve --store redis://...` processes over one real redis-server (AOF, fsync
always) and HAProxy with deploy/haproxy/haproxy.cfg as shipped, each on free loopback ports.
Every process shares this machine's cores, HAProxy and the client included, so the extra hop
costs CPU here that it would not on its own machine.
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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc

from gatenet.client import Client, ClientError
from gatenet_testing.serve_process import RedisServer, find_redis_server

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
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(target: str, models: list[str], seconds: float, threads: int = 8) -> int:
    """Calls answered by `threads` clients predicting one row of cycling models for `seconds`."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def work(k: int) -> None:
        with Client(target, timeout=10) as c:
            i = k
            while time.monotonic() < stop:
                c.predict(models[i % len(models)], ROW)
                done[k] += 1
                i += threads

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per path")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    options = parser.parse_args()
    haproxy = shutil.which("haproxy")
    if not haproxy:
        raise SystemExit("haproxy not found: scripts/ensure-tools.sh installs it")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gatenet-bench-scale-") as tmp, ExitStack() as stack:
        redis_dir = Path(tmp) / "redis"
        redis_dir.mkdir()
        redis = RedisServer(find_redis_server(), redis_dir)
        redis.start()
        stack.callback(redis.kill)
        targets, pids = {}, {}
        for name in REPLICAS:
            port = free_port()
            args = [str(GATENET), "serve", "--host", "127.0.0.1", "--port", str(port)]
            args += ["--metrics-port", "-1", "--log-level", "WARNING", "--store", redis.url]
            proc = stack.enter_context(process(args, Path(tmp) / f"{name}.log", cwd=tmp))
            targets[name], pids[name] = f"127.0.0.1:{port}", proc.pid
        for name, target in targets.items():
            with Client(target, timeout=5) as c:
                wait(f"{name} SERVING", lambda c=c: c.health() == "SERVING")
        with Client(targets["gatenet1"], timeout=60) as c:
            c.train(gate="xor", name=MODEL, seed=1)
            models = [c.train(gate="xor", seed=s).model_id for s in range(30)]

        def balancer(addresses: dict[str, str]) -> str:
            lb_port, stats_port = free_port(), free_port()
            env = dict(os.environ, LB_GRPC_ADDR=f"127.0.0.1:{lb_port}")
            env["LB_STATS_ADDR"] = f"127.0.0.1:{stats_port}"
            env.update({f"{name.upper()}_ADDR": t for name, t in addresses.items()})
            log = Path(tmp) / f"lb-{lb_port}"
            stack.enter_context(process([haproxy, "-db", "-f", str(CONFIG)], log, env))
            lb = f"127.0.0.1:{lb_port}"
            with Client(lb, timeout=5) as c:
                wait("HAProxy", lambda: all(c.health() == "SERVING" for _ in REPLICAS))
            return lb

        lb3 = balancer(targets)
        lb1 = balancer({name: targets["gatenet1"] for name in REPLICAS})  # one replica behind it

        # 1. One call's latency, direct vs through HAProxy (the client sends x-model-id).
        clients = {
            "direct to one replica": Client(targets["gatenet1"], timeout=10),
            "through HAProxy (hash on x-model-id)": Client(lb3, timeout=10),
        }
        results: dict[str, list[float]] = {path: [] for path in clients}
        for client in clients.values():
            stack.enter_context(client)
            latencies(client, 0, options.warmup)
        for i in range(ROUNDS):  # paired rounds, order alternating
            for path in list(clients)[:: 1 if i % 2 else -1]:
                results[path] += latencies(clients[path], options.calls // ROUNDS, 0)

        # 2. Calls/s and server CPU per call, 1 vs 3 replicas behind HAProxy.
        load(lb3, models, 2.0)  # every replica caches its share first
        load(lb1, models, 2.0)
        throughput = {}
        for label, lb, used in (("1 replica", lb1, ["gatenet1"]), ("3 replicas", lb3, REPLICAS)):
            cpu0 = sum(cpu_seconds(pids[n]) for n in used)
            calls = load(lb, models, options.seconds)
            cpu = sum(cpu_seconds(pids[n]) for n in used) - cpu0
            throughput[label] = (calls / options.seconds, cpu / calls * 1e6)

        # 3. Cold Predict: models gatenet1 trained, read from Redis by gatenet2 on first use.
        with Client(targets["gatenet1"], timeout=60) as c:
            cold_models = [c.train(gate="or", seed=s, steps=50).model_id for s in range(200)]
        with Client(targets["gatenet2"], timeout=10) as c:
            c.predict(MODEL, ROW)
            cold = []
            for m in cold_models:
                start = time.perf_counter()
                c.predict(m, ROW)
                cold.append(time.perf_counter() - start)

        # 4. Train p50 with the Redis store vs a memory store.
        train_p50 = {}
        memory_port = free_port()
        args = [str(GATENET), "serve", "--port", str(memory_port), "--metrics-port", "-1"]
        args += ["--log-level", "WARNING", "--store", "memory"]
        stack.enter_context(process(args, Path(tmp) / "memory.log", cwd=tmp))
        memory = f"127.0.0.1:{memory_port}"
        with Client(memory, timeout=5) as c:
            wait("memory server SERVING", lambda: c.health() == "SERVING")
        for label, target in (("redis", targets["gatenet3"]), ("memory", memory)):
            with Client(target, timeout=60) as c:
                c.train(gate="xor")
                times = []
                for _ in range(50):
                    start = time.perf_counter()
                    c.train(gate="xor")
                    times.append(time.perf_counter() - start)
            train_p50[label] = statistics.median(times)

    cores = os.cpu_count()
    print("| measure | value | target | met |\n|---|---|---|---|")
    direct, lb = (statistics.median(v) for v in results.values())
    extra = (lb - direct) * 1000
    print(
        f"| 1-row Predict p50, direct / through HAProxy | {direct * 1000:.3f} / {lb * 1000:.3f}"
        f" ms (+{extra:.3f} ms) | ≤ +0.5 ms | {'yes' if extra <= 0.5 else '**no**'} |"
    )
    for path, seconds in results.items():
        print(f"| 1-row Predict p99, {path} | {pct(seconds, 0.99) * 1000:.3f} ms | | |")
    for label, (rate, us) in throughput.items():
        print(
            f"| {label} behind HAProxy, 8 clients | {rate:,.0f} calls/s, "
            f"{us:,.0f} µs server CPU per call | | |"
        )
    p99 = pct(cold, 0.99)
    print(
        f"| cold Predict (read from Redis), p99 / p50 | {p99 * 1000:.2f} / "
        f"{statistics.median(cold) * 1000:.2f} ms | p99 ≤ 5 ms | "
        f"{'yes' if p99 <= 0.005 else '**no**'} |"
    )
    ratio = train_p50["redis"] / train_p50["memory"]
    print(
        f"| Train p50 (XOR, defaults), redis / memory | {train_p50['redis'] * 1000:.1f} / "
        f"{train_p50['memory'] * 1000:.1f} ms = {ratio:.2f} | ≤ 1.5 | "
        f"{'yes' if ratio <= 1.5 else '**no**'} |"
    )
    print(
        f"\nNotes: {cores} cores shared by every process (3 replicas over one redis-server with "
        "appendfsync always, two HAProxy 2.6 processes with deploy/haproxy/haproxy.cfg: one in "
        "front of the 3 replicas, one whose 3 servers are all replica 1, the client). Latency: "
        f"{options.calls} sequential calls per path in {ROUNDS} paired rounds. Throughput: 8 "
        f"client threads for {options.seconds:.0f} s over 31 models; server CPU from /proc of the "
        "replicas that served. Cold: 200 models trained through replica 1, each predicted once on "
        "replica 2. Train: 50 sequential calls each. Total "
        f"{time.perf_counter() - began:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
