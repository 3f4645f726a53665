"""OpenTelemetry traces: a span per call, exported over OTLP/gRPC, set up from Settings.

Off by default: only the composition root imports this module, and only when
--otlp-endpoint is set, so without it nothing here (nor opentelemetry) is loaded and
no call pays for tracing. `server_span` is transport-neutral: a transport hands it the
call's name, its headers (gRPC metadata pairs or an HTTP header mapping) and
attributes, and runs the call inside it; the W3C `traceparent` among the headers makes
the span a child of the caller's. The data plane adds the training's spans with
`training` (the queue wait and the worker's time, measured by the plane).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import gatenet
from gatenet.server.config import Settings

Headers = Mapping[str, str] | Iterable[tuple[str, Any]]
SERVICE_NAME = "gatenet"
# The gRPC codes that mark a server span as an error (OpenTelemetry's gRPC conventions);
# the others are the caller's doing (NOT_FOUND, INVALID_ARGUMENT, ...) and leave it unset.
_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})  # UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
# INTERNAL, UNAVAILABLE, DATA_LOSS
_TRACE_HEADERS = ("traceparent", "tracestate")
# One export's bound, retries included (OpenTelemetry's default is 10 s): an unreachable
# collector then delays the drain's end by about this, not by 9 s past the grace.
EXPORT_TIMEOUT_SECONDS = 2.0


class Tracing:
    """The tracer provider, its batching OTLP exporter, and the spans gatenet makes."""

    def __init__(self, settings: Settings) -> None:
        endpoint = settings.otlp_endpoint
        resource = Resource.create(
            {"service.name": SERVICE_NAME, "service.version": gatenet.__version__}
        )
        sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))
        self.provider = TracerProvider(resource=resource, sampler=sampler)
        exporter = OTLPSpanExporter(
            endpoint=endpoint,
            insecure=urlsplit(endpoint).scheme == "http",
            timeout=EXPORT_TIMEOUT_SECONDS,
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("gatenet.server", gatenet.__version__)
        self._propagator: TextMapPropagator = TraceContextTextMapPropagator()
        self._follow_only = settings.trace_sample_ratio == 0.0

    @contextlib.contextmanager
    def server_span(
        self, name: str, headers: Headers, attributes: Mapping[str, Any]
    ) -> Iterator[Span]:
        """A SERVER span, current while the call runs, child of the headers' `traceparent`."""
        carrier = _carrier(headers)
        if self._follow_only and "traceparent" not in carrier:
            # Ratio 0 samples only the traces callers sampled: this call's span, and any
            # child's, would be dropped, so none is made (what the SDK decides, sooner).
            yield trace.INVALID_SPAN
            return
        parent = self._propagator.extract(carrier)
        with self.tracer.start_as_current_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    def training(
        self, started: int, dispatched: int | None, ended: int, attributes: Mapping[str, Any]
    ) -> None:
        """A `training` span (child of the current span) from `started` to `ended`, with its
        `queue` (waiting for a worker) and `train` (on the worker) children; times in ns
        since the epoch, `dispatched` None if it never reached a worker."""
        span = self.tracer.start_span("training", start_time=started, attributes=attributes)
        inside = trace.set_span_in_context(span)
        queued = self.tracer.start_span("queue", context=inside, start_time=started)
        queued.end(end_time=ended if dispatched is None else dispatched)
        if dispatched is not None:
            worker = self.tracer.start_span("train", context=inside, start_time=dispatched)
            worker.end(end_time=ended)
        span.end(end_time=ended)

    def shutdown(self) -> None:
        """Export what is batched, then stop (the drain's last step)."""
        self.provider.shutdown()


def set_grpc_code(span: Span, code: int, name: str) -> None:
    """The call's final gRPC status on its span."""
    span.set_attribute("rpc.grpc.status_code", code)
    if code in _SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, name))


def _carrier(headers: Headers) -> dict[str, str]:
    """The trace headers among a call's headers, as the propagator reads them."""
    if isinstance(headers, Mapping):
        return {k: headers[k] for k in _TRACE_HEADERS if k in headers}
    return {k: v for k, v in headers if k in _TRACE_HEADERS and isinstance(v, str)}
