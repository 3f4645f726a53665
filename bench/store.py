"""Durable models: restart time, cold Predict, the cache's memory, cached Predict per store.

Prints a markdown table; run: .venv/bin/python bench/store.py [--models 200000]
Each server is a real `gatenet serve` process on free loopback ports.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from gatenet.client import Client
from gatenet.server.storage import ModelMeta, ModelRecord, encode_record, open_store
from gatenet_testing.serve_process import ServeProcess

REPO = Path(__file__).resolve().parents[1]

ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]
TRAINED = 10


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _fill(data: str, total: int) -> tuple[list[str], dict[str, list[int]]]:
    """Train TRAINED real models through a server, then store clones of them up to `total`
    (set-up only: one sqlite transaction with the store's own record encoding)."""
    server = ServeProcess("--data-dir", data, "--warm-models", "0").start()
    try:
        with Client(server.target, timeout=120) as c:
            trained = [c.train(gate="xor", seed=i).model_id for i in range(TRAINED)]
            labels = {m: c.predict(m, ROWS).labels.tolist() for m in trained}
    finally:
        server.stop()

    async def records() -> list[ModelRecord]:
        store = open_store("sqlite", data)
        await store.open()
        try:
            return [r for m in trained if (r := await store.get(m)) is not None]
        finally:
            await store.close()

    import asyncio

    sources = asyncio.run(records())
    rows = []
    source_of: dict[str, list[int]] = {}
    for i in range(total - TRAINED):
        src = sources[i % TRAINED]
        meta = ModelMeta(uuid.uuid4().hex, "", src.meta.created_at, src.meta.document)
        text, tensors = encode_record(ModelRecord(meta, src.tensors))
        rows.append((meta.model_id, None, meta.created_at, text, tensors))
        source_of[meta.model_id] = labels[src.meta.model_id]
    with sqlite3.connect(Path(data) / "gatenet.db") as db:
        db.executemany(
            "INSERT INTO models (model_id, name, created_at, meta, tensors) VALUES (?,?,?,?,?)",
            rows,
        )
    for m in trained:
        source_of[m] = labels[m]
    return trained, source_of


def _predict_all(target: str, ids: list[str], want: dict[str, list[int]], threads: int) -> int:
    """Predict every model once from `threads` clients; the number whose labels were wrong."""
    wrong = [0]
    chunks = [ids[i::threads] for i in range(threads)]

    def work(chunk: list[str]) -> None:
        with Client(target, timeout=60) as c:
            for m in chunk:
                if c.predict(m, ROWS).labels.tolist() != want[m]:
                    wrong[0] += 1

    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return wrong[0]


def _cached_p50(target: str, ids: list[str], calls: int) -> float:
    with Client(target, timeout=60) as c:
        for m in ids:
            c.predict(m, [[0, 1]])
        lat = []
        for i in range(calls):
            t = time.perf_counter()
            c.predict(ids[i % len(ids)], [[0, 1]])
            lat.append(time.perf_counter() - t)
    return statistics.median(lat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200_000, help="models stored")
    parser.add_argument("--cache-models", type=int, default=50_000, help="models the cache fits")
    parser.add_argument("--cold", type=int, default=1_000, help="cold Predicts after restart")
    args = parser.parse_args()
    began = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as data:
        t = time.perf_counter()
        trained, want = _fill(data, args.models)
        fill_seconds = time.perf_counter() - t
        ids = list(want)
        size = os.path.getsize(Path(data) / "gatenet.db")

        # Restart to SERVING with every model stored; the default warm-up caches the newest.
        t = time.perf_counter()
        server = ServeProcess("--data-dir", data).start()
        restart = time.perf_counter() - t
        try:
            cold_ids = random.Random(1).sample(ids[: args.models // 2], args.cold)  # not warm
            with Client(server.target, timeout=60) as c:
                cold = []
                for m in cold_ids:
                    t = time.perf_counter()
                    c.predict(m, ROWS)
                    cold.append(time.perf_counter() - t)
            sqlite_p50 = _cached_p50(server.target, trained, 5_000)
        finally:
            server.stop()
        rows.append(("restart to SERVING", f"{restart:.2f} s", "≤ 10 s", restart <= 10))
        p99 = _pct(cold, 0.99)
        rows.append(("cold Predict after restart, p99", _ms(p99), "≤ 5 ms", p99 <= 0.005))
        rows.append(("cold Predict after restart, p50", _ms(statistics.median(cold)), "", None))

        # The cache's memory: sized for --cache-models models, every model predicted once.
        cap = _entry_bytes(data, trained[0]) * args.cache_models
        server = ServeProcess(
            "--data-dir", data, "--warm-models", "0", "--cache-bytes", str(cap)
        ).start()
        try:
            assert server.proc is not None
            idle = _rss(server.proc.pid)
            wrong = _predict_all(server.target, ids, want, threads=4)
            growth = _rss(server.proc.pid) - idle
        finally:
            server.stop()
        ok = growth <= 1.2 * cap
        rows.append(
            (
                f"RSS growth, {args.models:,} models through a cache for "
                f"{args.cache_models:,} ({cap / 1e6:.1f} MB)",
                f"{growth / 1e6:.1f} MB ({growth / cap:.2f} × cap)",
                "≤ 1.2 × cap",
                ok,
            )
        )
        rows.append(
            ("models predicting wrong after eviction and read-through", str(wrong), "0", wrong == 0)
        )

    # Cached Predict: the same models trained into a memory store.
    memory = ServeProcess("--store", "memory").start()
    try:
        with Client(memory.target, timeout=60) as c:
            mem_ids = [c.train(gate="xor", seed=i).model_id for i in range(TRAINED)]
        memory_p50 = _cached_p50(memory.target, mem_ids, 5_000)
    finally:
        memory.stop()
    ratio = sqlite_p50 / memory_p50
    rows.append(
        (
            "cached 1-row Predict p50, sqlite / memory store",
            f"{_ms(sqlite_p50)} / {_ms(memory_p50)} = {ratio:.2f}",
            "≤ 1.10",
            ratio <= 1.10,
        )
    )

    print("| measure | value | target | met |\n|---|---|---|---|")
    for label, value, target, met in rows:
        verdict = "" if met is None else ("yes" if met else "**no**")
        print(f"| {label} | {value} | {target} | {verdict} |")
    print(
        f"\nNotes: {args.models:,} models in one sqlite file of {size / 1e6:.0f} MB ({TRAINED} "
        f"trained through Train, the rest stored as their clones in {fill_seconds:.0f} s of "
        "set-up). Restart: from spawning `gatenet serve` to health SERVING (Python and grpc "
        "start-up, the store opened, the 1,000 newest models cached; the training worker warms "
        "up in the background). "
        f"Cold: {args.cold:,} Predicts of models from the older half (never cached), one client "
        "on loopback. RSS from /proc/<pid>/status before and after predicting every model once "
        "from 4 client threads; the cap is --cache-models times the bytes one cached 2-4-1 entry "
        "counts. Cached Predict: 5,000 1-row calls over 10 cached models, one client. "
        f"{os.cpu_count()} cores; total {time.perf_counter() - began:.0f} s."
    )
    return 0


def _entry_bytes(data: str, model_id: str) -> int:
    """What one cached model counts against --cache-bytes, as the registry counts it."""
    import asyncio

    from gatenet.server.models.registry import ENTRY_OVERHEAD, compile_record

    async def read() -> ModelRecord | None:
        store = open_store("sqlite", data)
        await store.open()
        try:
            return await store.get(model_id)
        finally:
            await store.close()

    record = asyncio.run(read())
    assert record is not None
    return compile_record(record).nbytes + ENTRY_OVERHEAD


if __name__ == "__main__":
    raise SystemExit(main())
