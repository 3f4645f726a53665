"""The lock-free hot-path families expose exactly what prometheus_client's own would."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gatenet.server.loop_metrics import LoopCounter, LoopHistogram

BUCKETS = (1, 2, 4, 1024)


def exposition(registry: CollectorRegistry) -> str:
    """The text format, without the creation timestamps (they differ by construction)."""
    text = generate_latest(registry).decode()
    return re.sub(r"(_created\{?[^ ]*) \S+", r"\1 T", text)


def fill(counter, histogram, counter2, histogram2) -> None:
    counter.labels("unary", "Predict").inc()
    counter.labels("unary", "Predict").inc(2.5)
    counter.labels("unary", "Train")  # exposed at zero
    for value in (0, 1, 1.5, 2, 3, 4, 5, 1024, 1e9):
        histogram.labels("Predict").observe(value)
    histogram.labels("Train")
    counter2.inc(7)
    histogram2.observe(0.003)
    histogram2.observe(11)


def test_same_samples_as_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fill(
        LoopCounter("c_total", "A counter.", ("type", "method"), registry=ours),
        LoopHistogram("h", "A histogram.", ("method",), registry=ours, buckets=BUCKETS),
        LoopCounter("plain_total", "No labels.", (), registry=ours),
        LoopHistogram("latency_seconds", "Default buckets.", (), registry=ours),
    )
    fill(
        Counter("c_total", "A counter.", ("type", "method"), registry=theirs),
        Histogram("h", "A histogram.", ("method",), registry=theirs, buckets=BUCKETS),
        Counter("plain_total", "No labels.", registry=theirs),
        Histogram("latency_seconds", "Default buckets.", registry=theirs),
    )
    assert exposition(ours) == exposition(theirs)


def test_unlabelled_families_are_exposed_before_their_first_update() -> None:
    registry = CollectorRegistry()
    LoopCounter("rows_total", "Rows.", (), registry=registry)
    LoopHistogram("batch", "Batch.", (), registry=registry, buckets=BUCKETS)
    assert registry.get_sample_value("rows_total") == 0
    assert registry.get_sample_value("batch_bucket", {"le": "+Inf"}) == 0
