"""Predict benchmark: gatenet's real server against a FLOOR server that answers without a model.

Run: `.venv/bin/python bench/predict.py` (loopback, about five minutes, two markdown tables;
`--generator h2load` for the first only, about two minutes).

Two load generators. h2load (Debian's nghttp2-client, scripts/ensure-tools.sh) is C
on one thread and needs a fraction of a core, so the server is the bottleneck:
its table is the one that shows what a call costs the server. The Python one
(grpcio clients in separate processes) saturates before the servers do, but
measures latency percentiles, the 100,000-model server, V2 and Predict while
training. Every server runs in its own spawned process, so no server shares an
interpreter lock with the load generator. FLOOR has gatenet's grpcio, server
kind (grpc.aio on an event loop in its own thread, driven through the same
LoopThread) and server options, and a GateService whose Predict returns a
prebuilt response of the right shape: the cost of an empty gRPC call. The
figures are paired: each round measures every server with the same load, one
after the other, and the order rotates. The V2 rows measure the same 10-model
server through the Open Inference Protocol's ModelInfer, as tritonclient calls
it.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

PREDICT = "/gatenet.v1.GateService/Predict"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"  # the V2 (KServe) path to the model
MODELS_HELD = 100_000  # models in the big-registry server, the 10 trained ones included
TRAINED = 10  # real models trained through the RPC on each gatenet server
CLIENT_PROCESSES = 4
THREADS_PER_CLIENT = 4  # CLIENT_PROCESSES x THREADS_PER_CLIENT = concurrency 16
BIG_ROWS = 1024
ROUNDS = 5
LATENCY_SECONDS = 2.0
THROUGHPUT_SECONDS = 3.0
# Two long trainings back to back: they keep a training worker busy for about a minute.
TRAINING = {"gate": "XOR", "steps": 200_000, "early_stop": False, "restarts": 64}
TICKS = os.sysconf("SC_CLK_TCK")
H2LOAD_CONNECTIONS = 4  # as many as the Python generator's client processes
H2LOAD_SECONDS = 3.0
# (label, request rows, real-valued rows, calls in flight); 1 row checks the CPU target too.
H2LOAD_CASES = (
    ("1 row", 1, False, 16),
    ("1 row", 1, False, 64),
    (f"{BIG_ROWS} rows of 0/1", BIG_ROWS, False, 16),
    (f"{BIG_ROWS} rows of reals", BIG_ROWS, True, 16),
)
H2LOAD_TARGETS = {1: 0.90, BIG_ROWS: 0.80}  # gatenet / FLOOR calls/s, by rows per call
CPU_TARGET = 1.10  # gatenet / FLOOR server CPU per 1-row call, at most


def _settings() -> Any:
    """The gatenet settings every server here uses (FLOOR copies its gRPC options)."""
    from gatenet.server.config import Settings

    # Any free HTTP port: two gatenet servers (and other programs) would collide on 8080.
    return Settings(
        port=0,
        http_port=0,
        metrics_port=-1,
        log_level="WARNING",
        store="memory",
        drain_delay=0.0,
    )


def _rss_bytes() -> int:
    """This process's resident set, after a full collection so garbage doesn't count."""
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- servers (each in its own process) -------------------------------------------------


class _FloorServer:
    """A grpc.aio server on its own loop thread, stopped the way GatenetServer is."""

    def __init__(self, settings: Any, servicer: Any, raw: dict[str, Any] | None = None) -> None:
        from gatenet.server.rpc.loop import LoopThread

        self._loop = LoopThread("floor-aio")
        self._server, self.port = self._loop.run(self._start(settings, servicer, raw))

    async def _start(
        self, settings: Any, servicer: Any, raw: dict[str, Any] | None
    ) -> tuple[Any, int]:
        import grpc

        from gatenet.v1 import gatenet_pb2_grpc

        # The same options gatenet.server.app passes to grpc.aio.server.
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(options=options)
        if raw is None:
            gatenet_pb2_grpc.add_GateServiceServicer_to_server(servicer, server)
        else:  # handlers of raw bytes, registered with gRPC core as gatenet's hot ones are
            server.add_registered_method_handlers("gatenet.v1.GateService", raw)
        port = server.add_insecure_port(f"{settings.host}:0")
        await server.start()
        return server, port

    def stop(self, grace: float | None) -> None:
        self._loop.run(self._server.stop(grace))
        self._loop.close()


def _floor_server(settings: Any) -> Any:
    """Same grpcio, aio server and options as gatenet; Predict answers a prebuilt response."""
    from gatenet.v1 import gatenet_pb2 as pb
    from gatenet.v1 import gatenet_pb2_grpc

    class FloorService(gatenet_pb2_grpc.GateServiceServicer):
        """Predict without a model: a constant response with one value per row sent."""

        def __init__(self) -> None:
            self._responses = {
                rows * 2: pb.PredictResponse(
                    model_id="0" * 32, probabilities=[0.25] * rows, labels=[0] * rows
                )
                for rows in (1, BIG_ROWS)
            }

        async def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's name
            return self._responses[len(request.inputs)]

    server = _FloorServer(settings, FloorService())
    return server, f"127.0.0.1:{server.port}"


class _FloorWork:
    """FLOOR's Predict plus the work no server can skip, in the plainest numpy: read the rows
    in place, check them (0/1 for the table, finite for the forward), look them up or run a
    2-4-1 tanh net, write the answer's bytes. No model lookup, metrics, limits or wrapper."""

    def __init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.w1 = rng.normal(size=(4, 2)).astype(np.float32)  # W.T [out, in]
        self.b1 = rng.normal(size=(4, 1)).astype(np.float32)
        self.w2 = (rng.normal(size=4) * 0.5).astype(np.float32)  # sigmoid through tanh
        self.b2 = float(rng.normal()) * 0.5
        bits = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
        p = self.forward(bits)
        self.p_table, self.l_table = p, np.greater(p, 0.5).view(np.uint8)
        self.one_row = {bits[k].tobytes(): k for k in range(4)}
        self.patterns = np.frombuffer(bits.tobytes(), dtype="<u8")  # each 0/1 row as one integer

    def forward(self, x: Any) -> Any:
        """P(label = 1) of rows x [rows, 2] float32."""
        import numpy as np

        z = self.w1 @ x.T
        z += self.b1
        np.tanh(z, out=z)
        z = self.w2 @ z
        z += self.b2
        np.tanh(z, out=z)
        z *= 0.5
        z += 0.5
        return z

    async def predict(self, request: bytes, context: Any) -> bytes:
        """A canonical PredictRequest in (model, then inputs), a PredictResponse out."""
        import numpy as np

        from gatenet.vocabulary.wire import varint

        at = 2 + request[1] + 1  # past the model field, at the inputs' length
        size = shift = 0
        while request[at] & 0x80:
            size |= (request[at] & 0x7F) << shift
            shift, at = shift + 7, at + 1
        size |= request[at] << shift
        rows = request[at + 1 : at + 1 + size]  # a copy: 4-byte aligned
        count = size // 8
        if count == 1 and rows in self.one_row:
            k = self.one_row[rows]
            p, labels = self.p_table[k : k + 1], self.l_table[k : k + 1]
        else:
            whole = np.frombuffer(rows, dtype="<u8")
            index = self.patterns.searchsorted(whole)
            if self.patterns.take(index, mode="clip").tobytes() == rows:  # all 0/1 rows
                p = self.p_table.take(index, mode="clip")
                labels = self.l_table.take(index, mode="clip")
            else:
                x = whole.view(np.float32)
                if np.count_nonzero(np.isfinite(x)) != len(x):
                    raise ValueError("inputs must be finite")
                p = self.forward(x.reshape(count, 2))
                labels = np.greater(p, 0.5).view(np.uint8)
        return b"".join(
            (
                b"\x0a\x20" + b"0" * 32 + b"\x12",
                varint(4 * count),
                p.data,
                b"\x1a",
                varint(count),
                labels.data,
            )
        )


def _floor_work_server(settings: Any) -> Any:
    """FLOOR's grpc.aio server and options, Predict as raw bytes doing _FloorWork's work."""
    import grpc

    work = _FloorWork()
    handler = grpc.unary_unary_rpc_method_handler(work.predict)  # bytes in, bytes out

    server = _FloorServer(settings, None, {"Predict": handler})
    return server, f"127.0.0.1:{server.port}"


def _register_clones(srv: Any, total: int) -> list[str]:
    """Fill the registry to `total` with copies of the trained models under fresh ids."""
    from gatenet.server.models.compiled import CompiledModel
    from gatenet.server.storage import ModelMeta, ModelRecord

    async def clone() -> list[str]:
        metas, _ = await srv.registry.page("", 1000, "")
        templates = [(meta, await srv.registry.get(meta.model_id)) for meta in metas]
        ids = [meta.model_id for meta in metas]
        for i in range(total - len(metas)):
            meta, served = templates[i % len(templates)]
            # Own copies of the arrays: a clone must cost what a trained model costs.
            weights = {k: v.copy() for k, v in served.compiled.weights().items()}
            copy = ModelMeta(uuid.uuid4().hex, "", meta.created_at, meta.document)
            compiled = CompiledModel(weights, served.compiled.activation)
            await srv.registry.add(ModelRecord(copy, weights), compiled)
            ids.append(copy.model_id)
        srv.metrics.models.set(srv.registry.stored)
        return ids

    return srv._loop.run(clone())  # the registry lives on the server's event loop


def _server_main(kind: str, conn: Connection, changes: dict[str, Any] | None = None) -> None:
    """A server process: start, report the target, then obey commands from the bench."""
    from gatenet.server.app import build_server, tune_process

    tune_process()  # as `gatenet serve` runs: every server here in the same process state
    settings = replace(_settings(), **(changes or {}))
    if kind == "floor":
        server, target = _floor_server(settings)
    elif kind == "work":
        server, target = _floor_work_server(settings)
    else:
        server = build_server(settings)
        server.start()
        target = server.target
    conn.send((target, os.getpid()))
    while True:
        command, *args = conn.recv()
        if command == "stop":
            server.stop(0)
            conn.send("stopped")
            return
        if command == "rss":
            conn.send(_rss_bytes())
        elif command == "clone":
            started = time.perf_counter()
            ids = _register_clones(server, args[0])
            conn.send((random.Random(0).sample(ids, 4096), time.perf_counter() - started))


# -- load generator (client processes) ---------------------------------------------------


def _calls(
    call: Any, requests: list[bytes], offset: int, end_ns: int, out: list[list[int]]
) -> None:
    """Call until end_ns (perf_counter_ns), one call in flight; append the latencies."""
    latencies: list[int] = []
    clock = time.perf_counter_ns
    i, n = offset, len(requests)
    while (t0 := clock()) < end_ns:
        call(requests[i % n], timeout=30)
        latencies.append(clock() - t0)
        i += 1
    out.append(latencies)


def _client_main(conn: Connection) -> None:
    """A client process: run timed Predict loops on request, report latencies and CPU."""
    import resource

    import grpc

    from gatenet.client.channel import CHANNEL_OPTIONS

    channels: dict[str, Any] = {}
    stubs: dict[tuple[str, str], Any] = {}
    while (job := conn.recv()) is not None:
        target, method, requests, threads, seconds = job
        if target not in channels:
            channels[target] = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        if (target, method) not in stubs:
            # Raw bytes both ways: requests are serialized once, so the client's CPU goes to gRPC.
            stubs[target, method] = channels[target].unary_unary(method)
        call = stubs[target, method]
        for request in requests[:20]:  # connect, and warm the server's caches
            call(request, timeout=30)
        conn.send("ready")
        start = conn.recv()
        time.sleep(max(0.0, start - time.time()))
        end_ns = time.perf_counter_ns() + int(seconds * 1e9)
        results: list[list[int]] = []
        workers = [
            threading.Thread(target=_calls, args=(call, requests, k * 997, end_ns, results))
            for k in range(threads)
        ]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        conn.send(([x for lat in results for x in lat], cpu))
    for channel in channels.values():
        channel.close()


def _busy_seconds() -> float:
    """CPU seconds every process on the machine has used, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


@dataclass
class Proc:
    """A child process and the pipe to it."""

    process: Any
    conn: Connection
    target: str = ""
    pid: int = 0


@dataclass
class Load:
    """One timed load run: per-call latencies and CPU used."""

    seconds: float
    latencies_ns: list[int]
    client_cpu: float
    server_cpu: float
    other_cpu: float  # every other process on the machine

    @property
    def rate(self) -> float:
        return len(self.latencies_ns) / self.seconds


@dataclass
class Series:
    """Repeated runs of one measurement on one server."""

    runs: list[Load] = field(default_factory=list)

    def median_rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    def round_ratios(self, base: Series) -> list[float]:
        """This series' rate over `base`'s, round by round (each round measured both)."""
        return [r.rate / b.rate for r, b in zip(self.runs, base.runs, strict=True)]

    def paired_ratio(self, base: Series) -> float:
        """The median of the round-by-round ratios: drift between rounds cancels out."""
        return statistics.median(self.round_ratios(base))

    def percentile_us(self, q: float) -> float:
        pooled = sorted(x for r in self.runs for x in r.latencies_ns)
        return pooled[min(len(pooled) - 1, int(q * len(pooled)))] / 1000

    def calls(self) -> int:
        return sum(len(r.latencies_ns) for r in self.runs)

    def cores(self, what: str) -> float:
        """Cores busy over the runs: `client`, `server` or `other`."""
        busy = sum(getattr(r, f"{what}_cpu") for r in self.runs)
        return busy / sum(r.seconds for r in self.runs)

    def server_us_per_call(self) -> float:
        return sum(r.server_cpu for r in self.runs) / self.calls() * 1e6


def run_load(
    clients: Sequence[Proc],
    server: Proc,
    requests: list[bytes],
    threads: int,
    seconds: float,
    method: str = PREDICT,
) -> Load:
    """All `clients` hammer `server` together for `seconds`, `threads` calls in flight each."""
    for c in clients:
        c.conn.send((server.target, method, requests, threads, seconds))
    for c in clients:
        c.conn.recv()
    start = time.time() + 0.05
    for c in clients:
        c.conn.send(start)
    time.sleep(max(0.0, start - time.time()))
    cpu0, busy0 = _cpu_seconds(server.pid), _busy_seconds()
    time.sleep(seconds)
    cpu1, busy1 = _cpu_seconds(server.pid), _busy_seconds()
    answers = [c.conn.recv() for c in clients]
    client_cpu = sum(a[1] for a in answers)
    return Load(
        seconds=seconds,
        latencies_ns=[x for a in answers for x in a[0]],
        client_cpu=client_cpu,
        server_cpu=cpu1 - cpu0,
        other_cpu=max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - client_cpu),
    )


def _spawn(ctx: Any, target: Callable[..., None], *args: Any) -> Proc:
    parent, child = ctx.Pipe()
    # Not daemonic: a gatenet server starts its own training worker processes.
    process = ctx.Process(target=target, args=(*args, child))
    process.start()
    return Proc(process, parent)


def _train_models(target: str) -> list[str]:
    """Train the real 2-4-1 models (full 100-point loss curves) through the RPC."""
    from gatenet.client import Client

    gates = ("XOR", "AND", "OR", "NAND", "NOR", "XNOR", "XOR", "AND", "OR", "NAND")
    with Client(target, timeout=120) as client:
        return [
            client.train(
                gate=gate,
                hidden_sizes=[4],
                activation=("tanh", "sigmoid")[i % 2],
                steps=2000,
                early_stop=False,
                seed=i,
            ).model_id
            for i, gate in enumerate(gates[:TRAINED])
        ]


def _requests(model_ids: Sequence[str], rows: int, seed: int, reals: bool = False) -> list[bytes]:
    """Serialized PredictRequests over these models: rows of random 0/1 inputs, or of reals."""
    import numpy as np

    from gatenet.v1 import gatenet_pb2 as pb

    rng = np.random.default_rng(seed)

    def inputs() -> list[float]:
        values = rng.normal(size=rows * 2) if reals else rng.integers(0, 2, rows * 2)
        return values.astype(np.float32).tolist()

    return [pb.PredictRequest(model=m, inputs=inputs()).SerializeToString() for m in model_ids]


def _v2_requests(model_ids: Sequence[str], rows: int, seed: int) -> list[bytes]:
    """Serialized ModelInferRequests as tritonclient sends them: FP32 rows of random 0/1 inputs
    in raw_input_contents, no outputs named (both come back)."""
    import numpy as np

    from gatenet.inference import grpc_service_pb2 as v2

    rng = np.random.default_rng(seed)
    tensor = v2.ModelInferRequest.InferInputTensor(name="inputs", datatype="FP32", shape=(rows, 2))
    return [
        v2.ModelInferRequest(
            model_name=m,
            inputs=[tensor],
            raw_input_contents=[rng.integers(0, 2, (rows, 2)).astype("<f4").tobytes()],
        ).SerializeToString()
        for m in model_ids
    ]


def _check_v2_answers(target: str, request: bytes, rows: int) -> None:
    """One ModelInfer through the typed stub: both outputs, one value per row."""
    import grpc

    from gatenet.inference import grpc_service_pb2 as v2
    from gatenet.inference import grpc_service_pb2_grpc as v2_grpc

    with grpc.insecure_channel(target) as channel:
        reply = v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            v2.ModelInferRequest.FromString(request), timeout=30
        )
    sizes = [len(raw) for raw in reply.raw_output_contents]
    if sizes != [4 * rows, rows]:
        raise SystemExit(f"{target}: ModelInfer returned {sizes} bytes for {rows} rows")


def _check_answers(target: str, request: bytes, rows: int) -> int:
    """One call through the typed stub: the server answers with one value per row (the
    answer's size in bytes)."""
    import grpc

    from gatenet.v1 import gatenet_pb2 as pb
    from gatenet.v1 import gatenet_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        reply = gatenet_pb2_grpc.GateServiceStub(channel).Predict(
            pb.PredictRequest.FromString(request), timeout=30
        )
    if len(reply.probabilities) != rows or len(reply.labels) != rows:
        raise SystemExit(f"{target}: expected {rows} values, got {len(reply.probabilities)}")
    return int(reply.ByteSize())


# -- h2load: a load generator in C, so the server is the bottleneck -----------------------


def _grpc_frame(message: bytes) -> bytes:
    """One gRPC message as h2load posts it: not compressed, big-endian length, the bytes."""
    return b"\0" + len(message).to_bytes(4, "big") + message


@dataclass
class H2Run:
    """One h2load run against one server."""

    calls: int
    seconds: float
    server_cpu: float
    load_cpu: float  # h2load's own
    other_cpu: float  # every other process on the machine

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


def _h2load(target: str, pid: int, body: str, reply_bytes: int, in_flight: int) -> H2Run:
    """h2load posts `body` to Predict for H2LOAD_SECONDS with `in_flight` calls in flight;
    every call must have been answered with a message of `reply_bytes` bytes (an error status
    comes without one)."""
    command = [
        "h2load",
        *("-c", str(H2LOAD_CONNECTIONS), "-m", str(max(1, in_flight // H2LOAD_CONNECTIONS))),
        *("-t", "1", "-D", f"{H2LOAD_SECONDS:g}", "-d", body),
        *("-H", "content-type: application/grpc", "-H", "te: trailers"),
        f"http://{target}{PREDICT}",
    ]
    children0 = os.times()
    cpu0, busy0 = _cpu_seconds(pid), _busy_seconds()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu1, busy1 = _cpu_seconds(pid), _busy_seconds()
    children1 = os.times()
    load_cpu = (children1.children_user - children0.children_user) + (
        children1.children_system - children0.children_system
    )
    requests = re.search(r"requests: .* (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    finished = re.search(r"finished in ([\d.]+)(m?s),", out)
    data = re.search(r"\((\d+)\) data", out)
    if requests is None or finished is None or data is None:
        raise SystemExit(f"h2load printed what this bench cannot read:\n{out}")
    calls, failed, errored = (int(v) for v in requests.groups())
    # Each answered call brings one framed response; a gRPC error brings none.
    if failed or errored or int(data.group(1)) != calls * (5 + reply_bytes):
        raise SystemExit(
            f"{target}: h2load: {calls} calls, {failed} failed, {errored} errored, "
            f"{data.group(1)} response bytes (expected {5 + reply_bytes} per call)"
        )
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    return H2Run(
        calls=calls,
        seconds=seconds,
        server_cpu=cpu1 - cpu0,
        load_cpu=load_cpu,
        other_cpu=max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - load_cpu),
    )


def _h2load_table(servers: dict[str, Proc], model_id: str, rounds: int) -> str:
    """Every h2load case on FLOOR and gatenet, paired round by round; the table and a note."""
    if shutil.which("h2load") is None:
        raise SystemExit("h2load is missing: scripts/ensure-tools.sh installs nghttp2-client")
    floor, g10, work = servers["floor"], servers["g10"], servers["work"]
    runs: dict[tuple[int, str], list[H2Run]] = {}
    with tempfile.TemporaryDirectory(prefix="gatenet-h2load-") as tmp:
        bodies: dict[tuple[int, bool], tuple[str, int]] = {}
        for i, (_, rows, reals, _) in enumerate(H2LOAD_CASES):
            if (rows, reals) in bodies:
                continue
            request = _requests([model_id], rows, 10 + i, reals=reals)[0]
            sizes = {_check_answers(p.target, request, rows) for p in (floor, g10, work)}
            if len(sizes) != 1:
                raise SystemExit(f"FLOOR, gatenet, FLOOR+WORK answer {sizes} bytes to one request")
            path = os.path.join(tmp, f"predict-{rows}-{int(reals)}.grpc")
            with open(path, "wb") as f:
                f.write(_grpc_frame(request))
            bodies[rows, reals] = (path, sizes.pop())
        for r in range(rounds):
            for case, (_, rows, reals, in_flight) in enumerate(H2LOAD_CASES):
                body, reply = bodies[rows, reals]
                for kind, server in sorted(servers.items(), reverse=bool((r + case) % 2)):
                    if kind in ("floor", "g10", "work"):
                        run = _h2load(server.target, server.pid, body, reply, in_flight)
                        runs.setdefault((case, kind), []).append(run)
    return _h2load_report(runs, rounds)


def _h2load_row(
    floor: list[H2Run], gate: list[H2Run], label: str, rows: int, in_flight: int
) -> str:
    """One case's row: `gate`'s runs against FLOOR's of the same rounds."""
    ratios = sorted(g.rate / f.rate for g, f in zip(gate, floor, strict=True))
    ratio = statistics.median(ratios)
    cpu = {
        k: sum(r.server_cpu for r in v) / sum(r.calls for r in v) * 1e6
        for k, v in (("floor", floor), ("g10", gate))
    }
    cpu_ratio = cpu["g10"] / cpu["floor"]
    target = H2LOAD_TARGETS[rows]
    cpu_cells = (
        [
            f"{cpu_ratio:.2f}",
            f"≤ {CPU_TARGET:.2f}",
            "yes" if cpu_ratio <= CPU_TARGET else "**no**",
        ]
        if rows == 1
        else [f"{cpu_ratio:.2f}", "", ""]
    )
    return (
        "| "
        + " | ".join(
            [
                label,
                str(in_flight),
                _fmt(statistics.median(r.rate for r in floor)),
                _fmt(statistics.median(r.rate for r in gate)),
                f"{ratio:.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})",
                f"≥ {target:.2f}",
                "yes" if ratio >= target else "**no**",
                _fmt(cpu["floor"]),
                _fmt(cpu["g10"]),
                *cpu_cells,
            ]
        )
        + " |"
    )


def _h2load_report(runs: dict[tuple[int, str], list[H2Run]], rounds: int) -> str:
    """The h2load table: calls/s and server CPU per call, gatenet (and FLOOR+WORK) against
    FLOOR."""
    header = [
        "h2load case",
        "in flight",
        "FLOOR calls/s",
        "gatenet (or FLOOR+WORK) calls/s",
        "ratio (range)",
        "target",
        "met",
        "FLOOR CPU/call (µs)",
        "gatenet (or FLOOR+WORK) CPU/call (µs)",
        "CPU ratio",
        "target",
        "met",
    ]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # gatenet's rows, then FLOOR+WORK's against the same FLOOR runs: the targets as a bare
    # server doing only the unavoidable work meets them (or not) on this machine.
    for kind, prefix in (("g10", ""), ("work", "FLOOR+WORK: ")):
        for case, (label, rows, _, in_flight) in enumerate(H2LOAD_CASES):
            out.append(
                _h2load_row(runs[case, "floor"], runs[case, kind], prefix + label, rows, in_flight)
            )
    every = [r for v in runs.values() for r in v]
    seconds = sum(r.seconds for r in every)
    load = sum(r.load_cpu for r in every) / seconds
    other = sum(r.other_cpu for r in every) / seconds
    server = sum(r.server_cpu for r in every) / seconds
    out.append("")
    out.append(
        f"Notes: h2load {H2LOAD_CONNECTIONS} connections on one thread, the calls in flight "
        f"spread over them, {rounds} rounds x {H2LOAD_SECONDS:g} s per case and server, the "
        "order alternating; a ratio is the median of the rounds' gatenet / FLOOR calls/s (their "
        "range in brackets); one serialized PredictRequest per case, posted as a gRPC frame "
        "(rows of random 0/1 inputs or normal draws, on one trained 2-4-1 model), every answer "
        "checked to be a whole response message. FLOOR+WORK is FLOOR's server answering raw "
        "bytes with only the work no server can skip, in plain numpy (rows read in place and "
        "checked, 0/1 rows looked up in a 4-entry table, other rows through a 2-4-1 tanh net, "
        "the answer's bytes joined): no model lookup, limits, metrics or wrapper. "
        "Server CPU from /proc/<pid>/stat (all its "
        f"threads) over each run. Cores busy during the runs: the server {server:.2f}, h2load "
        f"{load:.2f}, every other process {other:.2f}."
    )
    return "\n".join(out)


def _trainings(target: str, done: threading.Event, seconds: list[float]) -> None:
    from gatenet.client import Client

    try:
        with Client(target, timeout=600) as client:
            for _ in range(2):
                started = time.perf_counter()
                client.train(**TRAINING)
                seconds.append(time.perf_counter() - started)
    finally:
        done.set()


def _short_trainings(target: str, stop: threading.Event, count: list[int]) -> None:
    """Train XOR with the defaults back to back until told to stop (one of two clients)."""
    from gatenet.client import Client

    with Client(target, timeout=600) as client:
        while not stop.is_set():
            client.train(gate="xor")
            count[0] += 1


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="paired rounds per figure")
    parser.add_argument("--skip-training", action="store_true", help="leave out the training row")
    parser.add_argument(
        "--generator",
        choices=("both", "h2load", "python"),
        default="both",
        help="which load generator's table to print (default: both)",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="instead: what tracing costs a Predict (h2load, tracing off against on)",
    )
    args = parser.parse_args(argv)
    if args.tracing:
        return _tracing_cost(args.rounds)
    wall0 = time.perf_counter()

    ctx = mp.get_context("spawn")
    kinds = (
        ("floor", "g10", "work")
        if args.generator == "h2load"
        else ("floor", "g10", "g100k", "work")
    )
    servers = {kind: _spawn(ctx, _server_main, kind) for kind in kinds}
    clients = [
        _spawn(ctx, _client_main)
        for _ in range(0 if args.generator == "h2load" else CLIENT_PROCESSES)
    ]
    try:
        return _measure(args, servers, clients, wall0)
    finally:
        for proc in [*servers.values(), *clients]:
            proc.process.join(timeout=10)
            if proc.process.is_alive():
                proc.process.terminate()


def _measure(
    args: argparse.Namespace, servers: dict[str, Proc], clients: list[Proc], wall0: float
) -> int:
    """Every measurement, then the tables."""
    for s in servers.values():
        s.target, s.pid = s.conn.recv()
    ids10 = _train_models(servers["g10"].target)
    if args.generator != "python":
        print(_h2load_table(servers, ids10[0], args.rounds))
        print()
    if args.generator != "h2load":
        _python_tables(args, servers, clients, ids10, wall0)
    for c in clients:  # clients first, so no channel sees a server go away
        c.conn.send(None)
        c.process.join()
    for s in servers.values():
        s.conn.send(("stop",))
        s.conn.recv()
    return 0


def _python_tables(
    args: argparse.Namespace,
    servers: dict[str, Proc],
    clients: list[Proc],
    ids10: list[str],
    wall0: float,
) -> None:
    """The Python generator's measurements and their table."""
    servers = {k: s for k, s in servers.items() if k != "work"}  # FLOOR+WORK: h2load's only
    g10, g100k = servers["g10"], servers["g100k"]
    _train_models(g100k.target)
    g100k.conn.send(("rss",))
    rss_before = g100k.conn.recv()
    g100k.conn.send(("clone", MODELS_HELD))
    sample_ids, clone_seconds = g100k.conn.recv()
    g100k.conn.send(("rss",))
    rss_after = g100k.conn.recv()
    per_model = (rss_after - rss_before) / (MODELS_HELD - TRAINED)

    one = {"floor": _requests(ids10, 1, 1), "g10": _requests(ids10, 1, 1)}
    one["g100k"] = _requests(sample_ids, 1, 2)
    big = _requests(ids10, BIG_ROWS, 3)
    big_reals = _requests(ids10, BIG_ROWS, 4, reals=True)
    for kind, reqs in one.items():
        _check_answers(servers[kind].target, reqs[0], 1)
    for kind in ("floor", "g10"):
        _check_answers(servers[kind].target, big[0], BIG_ROWS)
        _check_answers(servers[kind].target, big_reals[0], BIG_ROWS)
    v2_one, v2_big = _v2_requests(ids10, 1, 5), _v2_requests(ids10, BIG_ROWS, 6)
    _check_v2_answers(g10.target, v2_one[0], 1)
    _check_v2_answers(g10.target, v2_big[0], BIG_ROWS)

    latency = {k: Series() for k in servers}
    throughput = {k: Series() for k in servers}
    rows = {k: Series() for k in ("floor", "g10")}
    rows_reals = {k: Series() for k in ("floor", "g10")}
    v2_calls, v2_rows = Series(), Series()  # ModelInfer on the 10-model server
    order = list(servers)
    for r in range(args.rounds):
        for kind in order[r % 3 :] + order[: r % 3]:  # rotate who goes first
            server = servers[kind]
            latency[kind].runs.append(run_load(clients[:1], server, one[kind], 1, LATENCY_SECONDS))
            throughput[kind].runs.append(
                run_load(clients, server, one[kind], THREADS_PER_CLIENT, THROUGHPUT_SECONDS)
            )
            if kind in rows:
                rows[kind].runs.append(
                    run_load(clients, server, big, THREADS_PER_CLIENT, THROUGHPUT_SECONDS)
                )
                rows_reals[kind].runs.append(
                    run_load(clients, server, big_reals, THREADS_PER_CLIENT, THROUGHPUT_SECONDS)
                )
            if kind == "g10":
                for series, reqs in ((v2_calls, v2_one), (v2_rows, v2_big)):
                    series.runs.append(
                        run_load(
                            clients,
                            server,
                            reqs,
                            THREADS_PER_CLIENT,
                            THROUGHPUT_SECONDS,
                            MODEL_INFER,
                        )
                    )

    training = Series()
    train_seconds: list[float] = []
    if not args.skip_training:
        done = threading.Event()
        trainer = threading.Thread(target=_trainings, args=(g10.target, done, train_seconds))
        trainer.start()
        while not done.is_set():
            training.runs.append(run_load(clients[:1], g10, one["g10"], 1, LATENCY_SECONDS))
        trainer.join()
    short = Series()
    short_count = [0]
    if not args.skip_training:
        stop = threading.Event()
        trainers = [
            threading.Thread(target=_short_trainings, args=(g10.target, stop, short_count))
            for _ in range(2)
        ]
        for t in trainers:
            t.start()
        for _ in range(args.rounds):
            short.runs.append(run_load(clients[:1], g10, one["g10"], 1, LATENCY_SECONDS))
        stop.set()
        for t in trainers:
            t.join()

    v2 = {"calls": v2_calls, "rows": v2_rows}
    print(_table(latency, throughput, rows, rows_reals, training, per_model, v2, short))
    print()
    groups = [latency, throughput, rows, rows_reals, {"g10": v2_calls}, {"g10": v2_rows}]
    spread = {"1 row, c=16": throughput, f"{BIG_ROWS} rows, c=16": rows}
    v2_spread = {
        "ModelInfer 1 row / Predict": v2_calls.round_ratios(throughput["g10"]),
        f"ModelInfer {BIG_ROWS} rows / FLOOR": v2_rows.round_ratios(rows["floor"]),
    }
    notes = _notes(args, clone_seconds, train_seconds, groups, spread, training, wall0, v2_spread)
    print(
        notes + f" Short-trainings row: two clients training XOR with the defaults back to back "
        f"({short_count[0]} trainings), p99 over {short.calls():,} calls against idle p99."
    )


def _table(
    latency: dict[str, Series],
    throughput: dict[str, Series],
    rows: dict[str, Series],
    rows_reals: dict[str, Series],
    training: Series,
    per_model: float,
    v2: dict[str, Series],
    short: Series,
) -> str:
    """The one markdown table: figures per server, then each target's ratio and verdict."""
    p50 = {k: s.percentile_us(0.50) for k, s in latency.items()}
    p99 = {k: s.percentile_us(0.99) for k, s in latency.items()}
    tput = {k: s.median_rate() for k, s in throughput.items()}
    rps = {k: s.median_rate() * BIG_ROWS for k, s in rows.items()}
    rps_reals = {k: s.median_rate() * BIG_ROWS for k, s in rows_reals.items()}
    p99_training = training.percentile_us(0.99) if training.runs else None

    def line(label: str, values: dict[str, float | None], digits: int = 0) -> list[str]:
        return [label, *(_fmt(values.get(k), digits) for k in ("floor", "g10", "g100k"))]

    def verdict(ratio: float | None, bound: str, ok: bool) -> list[str]:
        if ratio is None:
            return ["—", bound, "—"]
        return [f"{ratio:.2f}", bound, "yes" if ok else "**no**"]

    r_p50 = p50["g100k"] / p50["g10"]
    r_tput = throughput["g10"].paired_ratio(throughput["floor"])
    r_rows = rows["g10"].paired_ratio(rows["floor"])
    r_reals = rows_reals["g10"].paired_ratio(rows_reals["floor"])
    r_train = None if p99_training is None else p99_training / p99["g10"]
    p99_short = short.percentile_us(0.99) if short.runs else None
    r_short = None if p99_short is None else p99_short / p99["g10"]
    r_v2_calls = v2["calls"].paired_ratio(throughput["g10"])
    r_v2_rows = v2["rows"].paired_ratio(rows["floor"])
    blank = ["", "", ""]
    table = [
        ["measure", "FLOOR", "gatenet, 10 models", "gatenet, 100,000 models"]
        + ["ratio", "target", "met"],
        line("1 row, c=1: p50 latency (µs)", p50)
        + verdict(r_p50, "100k / 10 models ≤ 1.10", r_p50 <= 1.10),
        line("1 row, c=1: p99 latency (µs)", p99) + blank,
        line("1 row, c=16: calls/s", tput)
        + verdict(r_tput, "gatenet / FLOOR ≥ 0.90", r_tput >= 0.90),
        line(
            "1 row, c=16: server CPU per call (µs)",
            {k: s.server_us_per_call() for k, s in throughput.items()},
        )
        + blank,
        line(
            "1 row, c=16: server CPU (cores)",
            {k: s.cores("server") for k, s in throughput.items()},
            2,
        )
        + blank,
        line(
            "1 row, c=16: client CPU (cores)",
            {k: s.cores("client") for k, s in throughput.items()},
            2,
        )
        + blank,
        line(f"{BIG_ROWS} rows, c=16: rows/s", rps)
        + verdict(r_rows, "gatenet / FLOOR ≥ 0.80", r_rows >= 0.80),
        line(
            f"{BIG_ROWS} rows, c=16: server CPU per call (µs)",
            {k: s.server_us_per_call() for k, s in rows.items()},
        )
        + blank,
        line(f"{BIG_ROWS} rows of reals, c=16: rows/s", rps_reals)
        + [f"{r_reals:.2f}", "(no target: the numpy forward)", ""],
        line(
            f"{BIG_ROWS} rows of reals, c=16: server CPU per call (µs)",
            {k: s.server_us_per_call() for k, s in rows_reals.items()},
        )
        + blank,
        line("V2 ModelInfer, 1 row, c=16: calls/s", {"g10": v2["calls"].median_rate()})
        + verdict(r_v2_calls, "ModelInfer / gatenet Predict ≥ 0.90", r_v2_calls >= 0.90),
        line(
            "V2 ModelInfer, 1 row, c=16: server CPU per call (µs)",
            {"g10": v2["calls"].server_us_per_call()},
        )
        + blank,
        line(
            f"V2 ModelInfer, {BIG_ROWS} rows, c=16: rows/s",
            {"g10": v2["rows"].median_rate() * BIG_ROWS},
        )
        + verdict(r_v2_rows, "ModelInfer / FLOOR Predict ≥ 0.80", r_v2_rows >= 0.80),
        line("1 row, c=1: p99 latency while training (µs)", {"g10": p99_training})
        + verdict(r_train, "training / idle p99 ≤ 3", r_train is not None and r_train <= 3),
        line("1 row, c=1: p99 latency while short trainings run (µs)", {"g10": p99_short})
        + verdict(r_short, "short trainings / idle p99 ≤ 3", r_short is not None and r_short <= 3),
        line("RSS per held model (bytes)", {"g100k": per_model})
        + [f"{per_model / 1024:.2f} KB", "≤ 4 KB", "yes" if per_model <= 4096 else "**no**"],
    ]
    out = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    out += ["| " + " | ".join(cells) + " |" for cells in table[1:]]
    return "\n".join(out)


def _notes(
    args: argparse.Namespace,
    clone_seconds: float,
    train_seconds: list[float],
    groups: list[dict[str, Series]],
    spread: dict[str, dict[str, Series]],
    training: Series,
    wall0: float,
    v2_spread: dict[str, list[float]],
) -> str:
    """How the figures were made, in one paragraph under the table."""
    runs = [r for g in groups for s in g.values() for r in s.runs]
    other = sum(r.other_cpu for r in runs) / sum(r.seconds for r in runs)
    paired = []
    for label, series in spread.items():
        ratios = sorted(series["g10"].round_ratios(series["floor"]))
        paired.append(f"{label} {ratios[0]:.2f}–{ratios[-1]:.2f}")
    for label, ratios in v2_spread.items():
        paired.append(f"{label} {min(ratios):.2f}–{max(ratios):.2f}")
    trained = (
        f"two Train({', '.join(f'{k}={v}' for k, v in TRAINING.items())}) back to back "
        f"({' + '.join(f'{t:.0f}' for t in train_seconds)} s, in the server's worker process) "
        f"on the 10-model server, p99 over {training.calls():,} calls, against its idle p99"
        if train_seconds
        else "skipped"
    )
    return (
        f"Notes: loopback, {os.cpu_count()} cores. Each server runs in its own spawned process; "
        f"the load comes from {CLIENT_PROCESSES} other client processes sending pre-serialized "
        "PredictRequests and reading raw bytes (the servers parse and serialize as usual). "
        f"c=1: one client thread, {args.rounds} x {LATENCY_SECONDS:.0f} s, percentiles pooled. "
        f"c=16: {CLIENT_PROCESSES} processes x {THREADS_PER_CLIENT} threads, median of "
        f"{args.rounds} x {THROUGHPUT_SECONDS:.0f} s; every round measures each server in turn "
        "with the same clients, the order rotating; a throughput ratio is the median of the "
        "rounds' gatenet / FLOOR ratios, or ModelInfer / Predict (they ranged "
        f"{', '.join(paired)}). Server CPU from /proc/<pid>/stat (all its "
        "threads), client CPU from getrusage in each client process. 1-row requests cycle over "
        f"the {TRAINED} trained models, or over 4,096 random ids of the 100,000; rows are random "
        "0/1 pairs (answered from each model's truth table), the reals row's are normal draws "
        "(the numpy forward). V2 rows: ModelInfer on the 10-model server, measured right after "
        "its Predict runs in each round, with requests as tritonclient sends them (FP32 rows in "
        "raw_input_contents, both outputs back in raw_output_contents); its 1-row ratio is "
        "against that server's Predict, its 1024-row ratio against FLOOR's Predict. "
        f"The {TRAINED} models are real 2-4-1 nets trained through Train "
        "(steps=2000, no early stop: 100-point loss curves); the other "
        f"{MODELS_HELD - TRAINED:,} were "
        "registered in the server process through Registry.add as copies of them (own arrays, "
        f"fresh ids, the same documents) in {clone_seconds:.1f} s; RSS per model = (RSS after - "
        f"RSS before) / {MODELS_HELD - TRAINED:,}. Training row: {trained}. Other processes on "
        f"the machine used {other:.2f} cores on average during the runs. "
        f"Total {time.perf_counter() - wall0:.0f} s."
    )


# -- --tracing: what a span per call costs ------------------------------------------------

TRACING_CASES = (("1 row", 1, 16), (f"{BIG_ROWS} rows", BIG_ROWS, 16))


def _traced_server_main(endpoint: str, ratio: float, conn: Connection) -> None:
    """A 10-model gatenet server exporting its spans to `endpoint` (tracing on)."""
    _server_main("g10", conn, {"otlp_endpoint": endpoint, "trace_sample_ratio": ratio})


def _tracing_cost(rounds: int) -> int:
    """h2load on three gatenet servers: tracing off, on sampling every call, on sampling none;
    the spans go to a real OTLP receiver in this process (gatenet_testing.otlp)."""
    from gatenet_testing.otlp import OtlpReceiver

    if shutil.which("h2load") is None:
        raise SystemExit("h2load is missing: scripts/ensure-tools.sh installs nghttp2-client")
    receiver = OtlpReceiver(keep=False).start()
    ctx = mp.get_context("spawn")
    servers = {
        "off": _spawn(ctx, _server_main, "g10"),
        "on": _spawn(ctx, _traced_server_main, receiver.endpoint, 1.0),
        "ratio 0": _spawn(ctx, _traced_server_main, receiver.endpoint, 0.0),
    }
    runs: dict[tuple[int, str], list[H2Run]] = {}
    try:
        for s in servers.values():
            s.target, s.pid = s.conn.recv()
        ids = {kind: _train_models(s.target)[:1] for kind, s in servers.items()}
        with tempfile.TemporaryDirectory(prefix="gatenet-tracing-") as tmp:
            for r in range(rounds):
                for case, (_, rows, in_flight) in enumerate(TRACING_CASES):
                    kinds = list(servers)
                    for kind in kinds[r % 3 :] + kinds[: r % 3]:  # rotate who goes first
                        server = servers[kind]
                        request = _requests(ids[kind], rows, 20 + case)[0]
                        reply = _check_answers(server.target, request, rows)
                        body = os.path.join(tmp, f"{kind}-{rows}.grpc")
                        with open(body, "wb") as f:
                            f.write(_grpc_frame(request))
                        run = _h2load(server.target, server.pid, body, reply, in_flight)
                        runs.setdefault((case, kind), []).append(run)
    finally:
        for s in servers.values():
            s.conn.send(("stop",))  # the traced servers flush their last spans
            s.conn.recv()
            s.process.join(timeout=10)
        receiver.stop()
    print(_tracing_report(runs, rounds, receiver.received))
    return 0


def _tracing_report(runs: dict[tuple[int, str], list[H2Run]], rounds: int, spans: int) -> str:
    header = ["h2load case", "tracing", "calls/s", "vs off", "server CPU/call (µs)", "+µs/call"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case, (label, _, in_flight) in enumerate(TRACING_CASES):
        off = runs[case, "off"]
        cpu_off = sum(r.server_cpu for r in off) / sum(r.calls for r in off) * 1e6
        for kind in ("off", "on", "ratio 0"):
            mine = runs[case, kind]
            ratio = statistics.median(m.rate / o.rate for m, o in zip(mine, off, strict=True))
            cpu = sum(r.server_cpu for r in mine) / sum(r.calls for r in mine) * 1e6
            cells = [
                f"{label}, {in_flight} in flight",
                kind,
                _fmt(statistics.median(r.rate for r in mine)),
                f"{ratio:.2f}",
                f"{cpu:.1f}",
                "" if kind == "off" else f"{cpu - cpu_off:+.1f}",
            ]
            out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        f"Notes: h2load as in the first table, {rounds} rounds x {H2LOAD_SECONDS:g} s per case "
        "and server, the order rotating; `vs off` is the median of the rounds' calls/s ratios. "
        "`on` samples every call (--trace-sample-ratio 1) and exports over OTLP/gRPC to a "
        f"receiver in the bench's process ({spans:,} spans arrived); `ratio 0` traces only "
        "what callers sampled (h2load sends no traceparent). Server CPU includes the "
        "exporter's thread."
    )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
