"""Every Prometheus collector gatenet exports, declared once against a registry passed in.

gRPC names and labels follow go-grpc-prometheus / py-grpc-prometheus so
existing dashboards work; no label takes unbounded values (never a model id).
"""

from __future__ import annotations

import platform
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector

import gatenet
from gatenet.server.loop_metrics import LoopCounter, LoopHistogram

_RPC = ("grpc_type", "grpc_service", "grpc_method")
# Training takes milliseconds to minutes.
_TRAIN_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
)
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


OUTCOMES = ("fit", "not_fit", "cancelled", "failed", "refused")
TASKS = ("gate", "truth_table", "examples")


class Metrics:
    """gatenet's collectors, registered on `registry` (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # The RPC hot path's families: written on the event loop only, so without a lock.
        self.started = LoopCounter(
            "grpc_server_started_total", "RPCs started on the server.", _RPC, registry=registry
        )
        self.handled = LoopCounter(
            "grpc_server_handled_total",
            "RPCs completed on the server, regardless of success or failure.",
            (*_RPC, "grpc_code"),
            registry=registry,
        )
        self.handling_seconds = LoopHistogram(
            "grpc_server_handling_seconds",
            "Response latency of RPCs handled by the server.",
            _RPC,
            registry=registry,
        )
        self.msg_received = LoopCounter(
            "grpc_server_msg_received_total",
            "Stream messages received by the server.",
            _RPC,
            registry=registry,
        )
        self.msg_sent = LoopCounter(
            "grpc_server_msg_sent_total",
            "Stream messages sent by the server.",
            _RPC,
            registry=registry,
        )
        # The HTTP port's requests, by route template (never the raw path: bounded labels).
        self.http_requests = LoopCounter(
            "gatenet_http_requests",
            "HTTP requests completed, by route template, method and status code.",
            ("route", "method", "code"),
            registry=registry,
        )
        self.http_seconds = LoopHistogram(
            "gatenet_http_request_duration_seconds",
            "Latency of HTTP requests, by route template and method.",
            ("route", "method"),
            registry=registry,
        )
        self.trainings = Counter(
            "gatenet_trainings_total",
            "Training runs finished, by task kind and outcome.",
            ("task", "outcome"),
            registry=registry,
        )
        self.training_seconds = Histogram(
            "gatenet_training_seconds",
            "Wall time of training runs, queueing included.",
            ("task",),
            buckets=_TRAIN_BUCKETS,
            registry=registry,
        )
        self.training_steps = Counter(
            "gatenet_training_steps_total",
            "Optimisation steps run by finished trainings.",
            registry=registry,
        )
        self.training_restarts = Counter(
            "gatenet_training_restarts_total",
            "Random restarts trained by finished trainings.",
            registry=registry,
        )
        self.trainings_in_progress = Gauge(
            "gatenet_trainings_in_progress", "Trainings running or queued.", registry=registry
        )
        self.models = Gauge("gatenet_models", "Models in the store.", registry=registry)
        self.predicted_rows = LoopCounter(
            "gatenet_predicted_rows", "Rows predicted by Predict.", (), registry=registry
        )
        self.predict_batch_rows = LoopHistogram(
            "gatenet_predict_batch_rows",
            "Rows per Predict request.",
            (),
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.cache_hits = LoopCounter(  # every Predict counts one, on the event loop
            "gatenet_cache_hits", "Model lookups answered from the cache.", (), registry=registry
        )
        self.cache_misses = Counter(
            "gatenet_cache_misses", "Model lookups that read the store.", registry=registry
        )
        self.cache_evictions = Counter(
            "gatenet_cache_evictions",
            "Models evicted to stay within --cache-bytes.",
            registry=registry,
        )
        self.cache_bytes = Gauge(
            "gatenet_cache_bytes", "Bytes of models held in the cache.", registry=registry
        )
        self.store_seconds = Histogram(
            "gatenet_store_seconds",
            "Store operation latency.",
            ("operation", "backend"),
            buckets=_STORE_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "gatenet_store_errors",
            "Unreadable stored records met, and store operations that failed.",
            ("kind",),
            registry=registry,
        )
        self.store_up = Gauge(
            "gatenet_store_up", "1 when the store answers, else 0.", registry=registry
        )
        Info("gatenet_build", "gatenet build information.", registry=registry).info(
            {
                "version": gatenet.__version__,
                "torch_version": _version("torch"),
                "python_version": platform.python_version(),
            }
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        for task in TASKS:
            for outcome in OUTCOMES:
                self.trainings.labels(task, outcome)
            self.training_seconds.labels(task)

    def training_finished(self, task: str, outcome: str, seconds: float) -> None:
        """Count a training run's end, however it ended."""
        self.trainings_in_progress.dec()
        self.trainings.labels(task, outcome).inc()
        self.training_seconds.labels(task).observe(seconds)

    def predicted(self, rows: int) -> None:
        """Count one Predict's rows."""
        self.predicted_rows.inc(rows)
        self.predict_batch_rows.observe(rows)

    def init_methods(self, service: str, methods: dict[str, str]) -> None:
        """Start every method's counters at zero, so rates exist before the first call."""
        for method, grpc_type in methods.items():
            labels = (grpc_type, service, method)
            self.started.labels(*labels)
            self.handled.labels(*labels, "OK")
            self.handling_seconds.labels(*labels)
            self.msg_received.labels(*labels)
            self.msg_sent.labels(*labels)
