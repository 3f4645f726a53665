"""Benchmark TrainFamily through an in-process server and the real client: every function of n
inputs with a width search (classes on and off), TrainFamily per function against one Train RPC
per function on the same recipe, and Predict of a family member against a plain model.
Prints markdown; run: .venv/bin/python bench/family.py [--inputs 4] [--no-plain]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from prometheus_client import CollectorRegistry

from gatenet.client import Client
from gatenet.server.app import build_server
from gatenet.server.config import Settings


def capacity(c: Client, n: int, classes: bool, widths: tuple[int, int]) -> str:
    t = time.perf_counter()
    fam = c.train_family(n, f"bench-cap-{n}-{int(classes)}", widths=widths, classes=classes, seed=0)
    wall = time.perf_counter() - t
    by_width = " ".join(f"{w}:{k}" for w, k in fam.fit_by_width.items())
    trained = fam.classes if classes else fam.functions
    return (
        f"| {n} | {widths[0]}-{widths[1]} | {'on' if classes else 'off'} | {trained} | "
        f"{fam.fit} / {fam.functions} | {by_width} | {fam.seconds:.1f} | {wall:.1f} | "
        f"{fam.stopped_by} |"
    )


def per_function(c: Client, n: int, hidden: int, sample: int) -> list[str]:
    """Seconds per function: TrainFamily (all 2^2^n, classes off and on) vs Train per function."""
    rows = 1 << n
    out = []
    for classes in (False, True):
        t = time.perf_counter()
        fam = c.train_family(
            n, f"bench-per-{n}-{int(classes)}", hidden=hidden, classes=classes, seed=0
        )
        wall = time.perf_counter() - t
        out.append(
            (f"TrainFamily classes {'on' if classes else 'off'}", fam.functions, wall, fam.fit)
        )
    rng = random.Random(0)
    numbers = rng.sample(range(1 << rows), min(sample, 1 << rows))
    c.train(truth_table=[0] * rows, hidden_sizes=[hidden], restarts=4, seed=0)  # channel warm
    t = time.perf_counter()
    fit = 0
    for f in numbers:
        table = [(f >> (rows - 1 - i)) & 1 for i in range(rows)]
        info = c.train(truth_table=table, hidden_sizes=[hidden], restarts=4, seed=0)
        fit += bool(info.fit)
    out.append(("Train per function", len(numbers), time.perf_counter() - t, fit))
    base = out[-1][2] / out[-1][1]
    lines = [
        f"| {name} | {count} | {fit} | {wall:.2f} | {1e3 * wall / count:.3f} | "
        f"{base / (wall / count):.0f}x |"
        for name, count, wall, fit in out
    ]
    return lines


def predict_p50(c: Client, member: str, plain: str, calls: int) -> str:
    def p50(model: str) -> float:
        c.predict(model, [[0, 1]])
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            c.predict(model, [[0, 1]])
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    a, b = p50(member), p50(plain)
    return f"| {member} | {a:.0f} µs | {plain} | {b:.0f} µs | {100 * (a / b - 1):+.1f}% |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--no-plain", action="store_true", help="skip classes off for --inputs")
    parser.add_argument("--per-inputs", type=int, default=3, help="inputs of the per-function run")
    parser.add_argument("--per-hidden", type=int, default=4)
    parser.add_argument("--sample", type=int, default=256)
    args = parser.parse_args()
    settings = Settings(
        port=0, metrics_port=-1, store="memory", log_level="WARNING", max_family_seconds=86_400
    )
    server = build_server(settings, CollectorRegistry())
    server.start()
    try:
        with Client(server.target, timeout=86_400) as c:
            print("## Capacity: every function, width search\n")
            print(
                "| inputs | widths | classes | trained | fit | fit by width | train s | wall s"
                " | stopped |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            print(capacity(c, args.inputs, True, (0, 8)), flush=True)
            n, h = args.per_inputs, args.per_hidden
            print(f"\n## Per function: {n} inputs, hidden {h}, restarts 4, seed 0\n")
            print("| how | functions | fit | wall s | ms / function | vs Train |")
            print("|---|---|---|---|---|---|")
            for line in per_function(c, n, h, args.sample):
                print(line, flush=True)
            print("\n## Predict p50, 1 row\n")
            print("| member | p50 | plain model | p50 | member vs plain |")
            print("|---|---|---|---|---|")
            c.train_family(2, "bench-fam2", widths=(0, 2), seed=0)
            c.train(
                truth_table=[0, 1, 1, 0], hidden_sizes=[2], restarts=4, seed=0, name="bench-xor"
            )
            c.predict("bench-fam2/0,1,1,0", [[0, 1]])
            print(predict_p50(c, "bench-fam2/0,1,1,0", "bench-xor", 2000), flush=True)
            if not args.no_plain:  # the long one last
                print("\n## Capacity, classes off\n")
                print(capacity(c, args.inputs, False, (0, 8)), flush=True)
    finally:
        server.stop(0)


if __name__ == "__main__":
    main()
