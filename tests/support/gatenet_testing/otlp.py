"""A real OTLP/gRPC trace receiver on a free loopback port: what a collector would get.

It serves opentelemetry-proto's TraceService (the generated servicer), keeps every span
exported to it, and lets a test wait for spans by condition, with no sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass
class Span:
    """One received span, its ids as hex (as in a traceparent) and its attributes as Python."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """TraceService/Export on 127.0.0.1:<port>; spans collects what arrived."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep  # False: only count the spans (bench/predict.py --tracing)
        self.spans: list[Span] = []
        self.exports = 0
        self.received = 0
        self._changed = threading.Condition()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def Export(  # noqa: N802 - the generated servicer's name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        if not self.keep:
            count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with self._changed:
                self.received += count
                self.exports += 1
            return trace_service_pb2.ExportTraceServiceResponse()
        received = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    received.append(
                        Span(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.kind,
                            s.start_time_unix_nano,
                            s.end_time_unix_nano,
                            _attributes(s.attributes),
                            s.status.code,
                            resource,
                        )
                    )
        with self._changed:
            self.spans += received
            self.received += len(received)
            self.exports += 1
            self._changed.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def wait_for(self, found: Callable[[list[Span]], bool], timeout: float = 30.0) -> list[Span]:
        """The spans so far, once `found` says they hold what the test waits for."""
        with self._changed:
            if not self._changed.wait_for(lambda: found(self.spans), timeout):
                names = [s.name for s in self.spans]
                raise TimeoutError(f"the spans wanted did not arrive; got {names}")
            return list(self.spans)

    def start(self) -> OtlpReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(None)
