"""Fuzz benchmark: seeded raw calls over every method on an in-process server, by code.

Run: `.venv/bin/python bench/fuzz.py --calls 10000 --seed 1` (loopback, free ports).
Then `--http-calls` requests to every route of the HTTP port (gatenet_testing.fuzz.http_calls).

It starts the real server (memory store) with auth on (read, train and admin tokens) on
127.0.0.1:0, trains the models the calls refer to, sends the calls from
gatenet_testing.fuzz `--concurrency` at a time (GateService, KServe V2, health,
reflection, unknown methods; damaged ImportModel files; each with a fuzzed
authorization header, most with the admin token), then checks the server: health
SERVING, a fresh XOR right, the models trained first answering exactly as before. It
prints markdown tables of calls by method and by header kind against code, the totals,
and every finding with its reproducer; the exit status is 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from gatenet.server.app import build_server
from gatenet.server.config import Settings
from gatenet_testing.fuzz import auth as fuzz_auth
from gatenet_testing.fuzz import generator, http_calls, lifecycle, runner  # the tests run them too

SETTINGS = Settings(
    host="127.0.0.1",
    port=0,
    http_port=0,
    metrics_port=-1,
    store="memory",
    log_level="WARNING",
    grace_seconds=0.0,
    drain_delay=0.0,
)


def table(outcomes: Sequence[runner.Outcome], by: str = "label", title: str = "method") -> str:
    """Calls by method (or another Outcome field: rows) and status code (columns), with totals."""
    by_method: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_method.setdefault(getattr(o, by), Counter())[o.code] += 1
    totals: Counter[str] = sum(by_method.values(), Counter())
    codes = [code for code, _ in totals.most_common()]
    lines = [
        f"| {title} | " + " | ".join(codes) + " | total |",
        "|---|" + "---:|" * (len(codes) + 1),
    ]
    for method in sorted(by_method, key=lambda m: -sum(by_method[m].values())):
        counts = by_method[method]
        cells = [str(counts[c]) if counts[c] else "" for c in codes]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {sum(counts.values())} |")
    cells = [f"**{totals[c]}**" for c in codes]
    lines.append("| **total** | " + " | ".join(cells) + f" | **{sum(totals.values())}** |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fuzz calls, print the table and the findings; 1 when there is any finding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls to send")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight at once")
    parser.add_argument(
        "--http-calls", type=int, default=3000, help="requests to the HTTP port (then, alone)"
    )
    args = parser.parse_args(argv)

    registry = CollectorRegistry()
    with tempfile.NamedTemporaryFile("w", prefix="gatenet-fuzz-tokens-") as tokens:
        tokens.write(fuzz_auth.TOKENS_FILE)
        tokens.flush()
        server = build_server(dataclasses.replace(SETTINGS, tokens_file=tokens.name), registry)
    admin = fuzz_auth.ADMIN
    server.start()
    try:
        targets, before = lifecycle.prepare(server.target, admin)
        start = time.perf_counter()
        calls = generator.FuzzRequests(args.seed, targets, auth=True).calls(args.calls)
        outcomes = runner.run(server.target, calls, args.concurrency)
        wall = time.perf_counter() - start
        # The HTTP port: every route, the same models and tokens (one connection, in order).
        refs = [ref for ref, _ in targets.kept] + list(targets.spares)
        batch = http_calls.cases(args.seed, args.http_calls, refs, list(fuzz_auth.TOKENS.values()))
        http_start = time.perf_counter()
        http_outcomes = http_calls.run("127.0.0.1", server.http.port, batch)
        http_wall = time.perf_counter() - http_start
        wrong = lifecycle.afterwards(server.target, targets, before, admin)
        counted = lifecycle.server_codes(registry)
    finally:
        server.stop(0)

    found = runner.findings(outcomes) + http_calls.findings(http_outcomes, args.seed)
    codes = Counter(o.code for o in outcomes)
    bad = {key: n for key, n in counted.items() if key[1] in ("INTERNAL", "UNKNOWN")}
    healthy = not any(w.startswith("health") for w in wrong)
    print(f"## bench/fuzz.py --calls {args.calls} --seed {args.seed}\n")
    print(table(outcomes))
    print()
    print(table(outcomes, by="auth", title="authorization"))
    print()
    print(
        f"- calls: {len(outcomes)} in {wall:.1f} s ({len(outcomes) / wall:.0f}/s), "
        f"concurrency {args.concurrency}; slowest {max(o.seconds for o in outcomes):.2f} s"
    )
    print(f"- the client saw INTERNAL {codes['INTERNAL']}, UNKNOWN {codes['UNKNOWN']}")
    print(
        "- the server counted INTERNAL/UNKNOWN: "
        + (", ".join(f"{m} {c} {n}" for (m, c), n in sorted(bad.items())) or "none")
    )
    by_route = [SimpleNamespace(label=o.case.route, code=str(o.status)) for o in http_outcomes]
    print()
    print(table(by_route, title="HTTP route (status)"))  # type: ignore[arg-type]
    print()
    print(
        f"- HTTP requests: {len(http_outcomes)} in {http_wall:.1f} s; answered 5xx: "
        f"{sum(o.status >= 500 for o in http_outcomes)}, without an answer: "
        f"{sum(o.status == 0 for o in http_outcomes)}"
    )
    print(
        f"- healthy after: {'yes' if healthy else 'NO'}; correct after: {'no' if wrong else 'yes'}"
    )
    for line in wrong:
        print(f"  - {line}")
    print(f"- findings: {len(found)}")
    for line in found:
        print(f"  - {line}")
    return 1 if found or wrong or bad else 0


if __name__ == "__main__":
    sys.exit(main())
