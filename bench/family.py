"""Benchmark TrainFamily through an in-process server and the real client: every function of n
inputs with a width search (classes on and off), TrainFamily per function against one Train RPC
per function on the same recipe, and Predict of a family member against a plain model.
Prints markdown; run: .venv/bin/python bench/family.py [--inputs 4] [--no-plain] [--per 3 3:4 4]
[--no-capacity] [--no-predict] [--training-workers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time

from prometheus_client import CollectorRegistry

from gatenet.client import Client
from gatenet.server.app import GatenetServer, build_server
from gatenet.server.config import Settings
from gatenet.server.training.family.plan import MIN_SPLIT


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


def per_function(
    c: Client, n: int, hidden: int | None, sample: int, spread: tuple[Client, int] | None = None
) -> list[str]:
    """Seconds per function: one Train RPC per function (a sample), then TrainFamily on every
    function of n inputs (classes off and on) at the width those Trains used, and the tail bound.

    hidden None is the server's default recipe: Train picks the width, the family is given it.
    """
    rows = 1 << n
    rng = random.Random(0)
    numbers = rng.sample(range(1 << rows), min(sample, 1 << rows))
    network = {} if hidden is None else {"hidden_sizes": [hidden]}
    c.train(truth_table=[0] * rows, restarts=4, seed=0, **network)  # channel and worker warm
    times, fit, width = [], 0, hidden
    for f in numbers:
        table = [(f >> (rows - 1 - i)) & 1 for i in range(rows)]
        t = time.perf_counter()
        info = c.train(truth_table=table, restarts=4, seed=0, **network)
        times.append(time.perf_counter() - t)
        fit += bool(info.fit)
        width = int(info.spec["network"]["hidden_sizes"][0])
    assert width is not None
    c.train_family(
        n, f"bench-warm-{n}-{width}", tables=[",".join("0" * rows)], hidden=width, seed=0
    )
    out = []
    for classes in (False, True):
        t = time.perf_counter()
        fam = c.train_family(
            n, f"bench-per-{n}-{width}-{int(classes)}", hidden=width, classes=classes, seed=0
        )
        wall = time.perf_counter() - t
        name = f"TrainFamily, classes {'on' if classes else 'off'}"
        out.append((name, fam.functions, wall, fam.fit))
    if spread is not None and 1 << rows >= 2 * MIN_SPLIT:  # big enough to split
        other, workers = spread
        other.train_family(
            n, f"bench-warm-{n}-{width}", tables=[",".join("0" * rows)], hidden=width, seed=0
        )
        t = time.perf_counter()
        fam = other.train_family(n, f"bench-spread-{n}-{width}", hidden=width, seed=0)
        name = f"TrainFamily, classes off, split over {workers} training workers"
        out.append((name, fam.functions, time.perf_counter() - t, fam.fit))
    out.append(("Train per function", len(numbers), sum(times), fit))
    base = sum(times) / len(times)
    lines = [
        f"| {width} | {name} | {count} | {fit} | {wall:.3f} | {1e3 * wall / count:.3f} | "
        f"{base / (wall / count):.0f}x |"
        for name, count, wall, fit in out
    ]
    # The family trains every function to its own end, so it lasts about as long as its
    # slowest function's own Train (the same steps): per function it beats Train by about
    # (mean Train) / (slowest Train / functions) at most, a bound that binds when one function
    # runs far longer than the rest (e.g. its full step budget, never fitting).
    functions, slowest = out[0][1], max(times)
    lines.append(
        f"| {width} | tail bound: the slowest Train alone | {functions} | - | {slowest:.3f} | "
        f"{1e3 * slowest / functions:.3f} | ~{base / (slowest / functions):.0f}x bound |"
    )
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


def per_run(text: str) -> tuple[int, int | None]:
    """INPUTS or INPUTS:HIDDEN."""
    inputs, _, hidden = text.partition(":")
    return int(inputs), int(hidden) if hidden else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--no-plain", action="store_true", help="skip classes off for --inputs")
    parser.add_argument(
        "--per",
        type=per_run,
        nargs="*",
        default=[(3, None), (3, 4), (4, None)],
        help="per-function runs as INPUTS or INPUTS:HIDDEN (default: 3 3:4 4)",
    )
    parser.add_argument("--no-capacity", action="store_true", help="skip the capacity runs")
    parser.add_argument("--no-predict", action="store_true", help="skip Predict p50")
    parser.add_argument(
        "--training-workers",
        type=int,
        default=1,
        help="the server's --training-workers (a family of 2,048+ tables splits over them)",
    )
    parser.add_argument(
        "--spread",
        type=int,
        default=2,
        help="also time a big family (classes off) on a server with this many training workers"
        " (0: do not)",
    )
    parser.add_argument("--sample", type=int, default=256)
    args = parser.parse_args()
    server = _server(args.training_workers)
    spreading = _server(args.spread) if args.spread > 1 else None
    try:
        with contextlib.ExitStack() as clients:
            c = clients.enter_context(Client(server.target, timeout=86_400))
            spread = None
            if spreading is not None:
                spread = (
                    clients.enter_context(Client(spreading.target, timeout=86_400)),
                    args.spread,
                )
            if not args.no_capacity:
                print("## Capacity: every function, width search\n")
                print(
                    "| inputs | widths | classes | trained | fit | fit by width | train s"
                    " | wall s | stopped |"
                )
                print("|---|---|---|---|---|---|---|---|---|")
                print(capacity(c, args.inputs, True, (0, 8)), flush=True)
            print("\n## Per function: TrainFamily vs one Train RPC each, restarts 4, seed 0\n")
            print(
                "Width: the server's default for Train (hidden unset) unless given. The Train"
                " sample is all functions for 3 inputs, 256 for 4.\n"
            )
            print("| width | how | functions | fit | wall s | ms / function | vs Train |")
            print("|---|---|---|---|---|---|---|")
            for n, hidden in args.per:
                for line in per_function(c, n, hidden, args.sample, spread):
                    print(line, flush=True)
            if args.no_predict:
                return
            print("\n## Predict p50, 1 row\n")
            print("| member | p50 | plain model | p50 | member vs plain |")
            print("|---|---|---|---|---|")
            c.train_family(2, "bench-fam2", widths=(0, 2), seed=0)
            c.train(
                truth_table=[0, 1, 1, 0], hidden_sizes=[2], restarts=4, seed=0, name="bench-xor"
            )
            c.predict("bench-fam2/0,1,1,0", [[0, 1]])
            print(predict_p50(c, "bench-fam2/0,1,1,0", "bench-xor", 2000), flush=True)
            if not args.no_plain and not args.no_capacity:  # the long one last
                print("\n## Capacity, classes off\n")
                print(capacity(c, args.inputs, False, (0, 8)), flush=True)
    finally:
        server.stop(0)
        if spreading is not None:
            spreading.stop(0)


def _server(training_workers: int) -> GatenetServer:
    """An in-process server, gRPC only (no fixed port to collide with), every worker warm."""
    settings = Settings(
        port=0,
        metrics_port=-1,
        http_port=-1,
        store="memory",
        log_level="WARNING",
        max_family_seconds=86_400,
        training_workers=training_workers,
    )
    server = build_server(settings, CollectorRegistry())
    server.start()
    server._loop.run(server.pool.warmed())  # every worker ready before anything is timed
    return server


if __name__ == "__main__":
    main()
