"""Counters and histograms for the RPC hot path: plain numbers, written by the event loop only.

prometheus_client's Counter and Histogram take a mutex on every update (0.3 and
0.6 µs each, hot), and a Predict updates seven of them. Every gRPC handler and
the wrapper around it (rpc/handlers.py) run on the one aio event loop thread, so
these values have a single writer and need no lock; the /metrics thread only
reads them (a Python int or float read is atomic under the GIL). They are
exposed through prometheus_client's custom-collector interface, in the same
families a Counter / Histogram would give (tests/unit/test_loop_metrics.py).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

# prometheus_client's default latency buckets (without +Inf), as its Histogram would use.
DEFAULT_BUCKETS = tuple(b for b in Histogram.DEFAULT_BUCKETS if b != float("inf"))


class Count:
    """One labelled counter value."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class Distribution:
    """One labelled histogram: per-bucket counts (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # le: value <= bound
        self.sum += value


class _Family(Collector):
    """Children by label values, registered as one collector."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Any] = {}
        # A family without labels has its one child from the start, as prometheus_client's do.
        self._only: Any = None if self.labelnames else self.labels()
        registry.register(self)

    def labels(self, *values: str) -> Any:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._make()
        return child

    def _make(self) -> Any:
        raise NotImplementedError

    def _empty(self) -> Metric:
        raise NotImplementedError

    def describe(self) -> list[Metric]:
        return [self._empty()]


class LoopCounter(_Family):
    """A counter family (exposed as <name>_total and <name>_created) written by one thread."""

    def labels(self, *values: str) -> Count:
        return super().labels(*values)

    def inc(self, amount: float = 1) -> None:
        """For a family without labels."""
        self._only.inc(amount)

    def _make(self) -> Count:
        return Count()

    def _empty(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._empty()
        for values, child in list(self._children.items()):
            family.add_metric(values, child.value, created=child.created)
        yield family


class LoopHistogram(_Family):
    """A histogram family (<name>_bucket, _count, _sum, _created) written by one thread."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, registry)

    def labels(self, *values: str) -> Distribution:
        return super().labels(*values)

    def observe(self, value: float) -> None:
        """For a family without labels."""
        self._only.observe(value)

    def _make(self) -> Distribution:
        return Distribution(self.bounds)

    def _empty(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._empty()
        for values, child in list(self._children.items()):
            counts, total = list(child.counts), child.sum
            cumulative, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            family.add_metric(values, buckets, total)
            # What prometheus_client's own Histogram also writes (add_metric has no created=).
            labels = dict(zip(self.labelnames, values, strict=True))
            family.samples.append(Sample(f"{self.name}_created", labels, child.created))
        yield family


def _le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it (1.0, not 1)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))
