"""OpenTelemetry traces from a real `gatenet serve` to a real OTLP receiver (TraceService).

The receiver (gatenet_testing.otlp) serves opentelemetry-proto's TraceService/Export on a
free loopback port; the server exports to it with --otlp-endpoint. The server's stop
flushes the batched spans, so a test stops it and then reads every span it sent.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import gatenet
from gatenet.client import Client, ClientError
from gatenet.client.messages import build_train_request
from gatenet.client.tracecontext import trace_headers
from gatenet.server.app import build_server
from gatenet.server.config import SettingError, Settings, load_settings
from gatenet.server.tracing import EXPORT_TIMEOUT_SECONDS
from gatenet.v1 import gatenet_pb2_grpc
from gatenet_testing.otlp import OtlpReceiver, Span
from gatenet_testing.serve_process import ServeProcess, free_port

SERVER = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER
TRAIN = "gatenet.v1.GateService/Train"
PREDICT = "gatenet.v1.GateService/Predict"
# A remote caller's context, as another service would send it.
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def serve(receiver: OtlpReceiver, *flags: str) -> ServeProcess:
    return ServeProcess(
        "--otlp-endpoint",
        receiver.endpoint,
        "--store",
        "memory",
        "--drain-delay",
        "0",
        *flags,
    ).start()


def one(spans: list[Span], **match: object) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(s.name, s.parent_span_id) for s in spans])
    return found[0]


def children(spans: list[Span], parent: Span) -> dict[str, Span]:
    return {s.name: s for s in spans if s.parent_span_id == parent.span_id}


@pytest.fixture
def receiver():
    r = OtlpReceiver().start()
    yield r
    r.stop()


@pytest.mark.slow
def test_spans_reach_the_collector_as_children_of_the_callers_traceparent(receiver):
    server = serve(receiver)
    caller = TracerProvider().get_tracer("test")  # the client's side: OpenTelemetry installed
    try:
        with Client(server.target, timeout=60) as client:
            with caller.start_as_current_span("client work") as work:
                info = client.train(gate="xor", seed=0)
                prediction = client.predict(info.model_id, [[0, 1], [1, 1]])
                with pytest.raises(ClientError):
                    client.predict("no-such-model", [[0, 1]])
            # A raw traceparent in the metadata (any caller, no OpenTelemetry): while a long
            # training holds the one worker, this Train waits in the queue.
            long_run = client.train_stream(gate="xor", steps=5000, early_stop=False, restarts=1)
            next(iter(long_run))  # its first progress event: it is on the worker now
            with grpc.insecure_channel(server.target) as channel:
                raw = gatenet_pb2_grpc.GateServiceStub(channel).Train(
                    build_train_request(gate="or"),
                    metadata=(("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"),),
                    timeout=60,
                )
            long_info = [e for e in long_run][-1]
    finally:
        server.stop()  # the drain's end flushes the batched spans
    spans = receiver.spans
    work_ctx = work.get_span_context()

    # The client's calls: children of its current span, one SERVER span per RPC.
    mine = [s for s in spans if s.parent_span_id == f"{work_ctx.span_id:016x}"]
    assert {s.trace_id for s in mine} == {f"{work_ctx.trace_id:032x}"}
    train = one(mine, name=TRAIN)
    assert train.kind == SERVER
    assert train.attributes["rpc.system"] == "grpc"
    assert train.attributes["rpc.service"] == "gatenet.v1.GateService"
    assert train.attributes["rpc.method"] == "Train"
    assert train.attributes["rpc.grpc.status_code"] == 0
    assert train.attributes["gatenet.model_id"] == info.model_id
    assert train.attributes["rpc.request.size"] > 0
    assert train.attributes["rpc.response.size"] > 0
    assert train.resource["service.name"] == "gatenet"
    assert train.resource["service.version"] == gatenet.__version__
    predicts = sorted((s for s in mine if s.name == PREDICT), key=lambda s: s.start_ns)
    assert [s.attributes["rpc.grpc.status_code"] for s in predicts] == [0, 5]  # OK, NOT_FOUND
    assert predicts[0].attributes["gatenet.model_id"] == prediction.model_id == info.model_id
    assert "gatenet.model_id" not in predicts[1].attributes

    # The training: a child of the Train span, made of its queue wait and its worker's time.
    training = children(spans, train)["training"]
    assert training.attributes["gatenet.steps"] == info.steps
    assert training.attributes["gatenet.fit"] is True
    assert training.attributes["gatenet.outcome"] == "fit"
    parts = children(spans, training)
    queue, worker = parts["queue"], parts["train"]
    assert train.start_ns <= training.start_ns == queue.start_ns
    assert queue.end_ns <= worker.start_ns and worker.end_ns == training.end_ns <= train.end_ns
    assert worker.seconds >= info.train_seconds * 0.9  # the worker's own clock, inside

    # The raw traceparent's Train: in the caller's trace, and it queued behind the long run.
    raw_span = one(spans, name=TRAIN, parent_span_id=CALLER_SPAN)
    assert raw_span.trace_id == CALLER_TRACE
    assert raw_span.attributes["gatenet.model_id"] == raw.model_id
    raw_parts = children(spans, children(spans, raw_span)["training"])
    long_span = one(spans, name="gatenet.v1.GateService/TrainStream")
    assert long_span.attributes["gatenet.model_id"] == long_info.model_id
    long_worker = children(spans, children(spans, long_span)["training"])["train"]
    assert long_worker.seconds >= long_info.train_seconds * 0.9
    # It waited while the long run trained, and got the worker as that run ended.
    assert raw_parts["queue"].start_ns < long_worker.end_ns
    assert raw_parts["queue"].end_ns >= long_worker.end_ns - 100_000_000
    assert raw_parts["queue"].end_ns <= raw_parts["train"].start_ns


@pytest.mark.slow
def test_http_requests_are_spans_too_children_of_their_traceparent_header(receiver):
    """/v1 and V2 REST requests: one SERVER span each, named by route template, in the trace
    the request's traceparent header names; /v1/Train's training hangs under it."""
    http_port = free_port()
    server = serve(receiver, "--http-port", str(http_port))
    base = f"http://127.0.0.1:{http_port}"
    header = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    try:
        trained = _post(f"{base}/v1/Train", {"gate": {"name": "XOR"}, "seed": 0}, header)
        infer = {
            "inputs": [{"name": "inputs", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}]
        }
        _post(f"{base}/v2/models/{trained['modelId']}/infer", infer, header)
        with pytest.raises(urllib.error.HTTPError) as missing:
            _post(f"{base}/v2/models/no-such-model/infer", infer, header)
        assert missing.value.code == 404
    finally:
        server.stop()
    spans = [s for s in receiver.spans if s.parent_span_id == CALLER_SPAN]
    assert {s.trace_id for s in spans} == {CALLER_TRACE}
    train = one(spans, name="POST /v1/Train")
    assert train.kind == SERVER
    assert train.attributes["http.route"] == "/v1/Train"
    assert train.attributes["http.response.status_code"] == 200
    assert train.attributes["gatenet.model_id"] == trained["modelId"]
    assert set(children(receiver.spans, children(receiver.spans, train)["training"])) == {
        "queue",
        "train",
    }
    infers = sorted(
        (s for s in spans if s.name == "POST /v2/models/{name}/infer"), key=lambda s: s.start_ns
    )
    assert [s.attributes["http.response.status_code"] for s in infers] == [200, 404]
    assert infers[0].attributes["gatenet.model_id"] == trained["modelId"]
    assert "gatenet.model_id" not in infers[1].attributes


def _post(url: str, body: dict, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_a_sample_ratio_of_zero_sends_no_span(receiver):
    server = serve(receiver, "--trace-sample-ratio", "0")
    try:
        with Client(server.target, timeout=60) as client:
            info = client.train(gate="and")
            client.predict(info.model_id, [[1, 1]])
        with grpc.insecure_channel(server.target) as channel:  # a caller that did not sample
            gatenet_pb2_grpc.GateServiceStub(channel).Train(
                build_train_request(gate="or"),
                metadata=(("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"),),
                timeout=60,
            )
    finally:
        server.stop()
    assert receiver.spans == [] and receiver.exports == 0


@pytest.mark.slow
def test_a_sample_ratio_of_zero_still_traces_what_a_caller_sampled(receiver):
    server = serve(receiver, "--trace-sample-ratio", "0")
    try:
        with Client(server.target, timeout=60) as client:
            client.train(gate="and")  # no caller's trace: not traced
        with grpc.insecure_channel(server.target) as channel:
            gatenet_pb2_grpc.GateServiceStub(channel).Train(
                build_train_request(gate="or"),
                metadata=(("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"),),
                timeout=60,
            )
    finally:
        server.stop()
    assert {s.trace_id for s in receiver.spans} == {CALLER_TRACE}
    train = one(receiver.spans, name=TRAIN, parent_span_id=CALLER_SPAN)
    assert set(children(receiver.spans, children(receiver.spans, train)["training"])) == {
        "queue",
        "train",
    }


@pytest.mark.slow
@pytest.mark.timed
def test_an_unreachable_collector_neither_fails_calls_nor_holds_the_stop():
    server = ServeProcess(
        "--otlp-endpoint",
        f"http://127.0.0.1:{free_port()}",
        "--store",
        "memory",
        "--drain-delay",
        "0",
    ).start()
    try:
        with Client(server.target, timeout=60) as client:
            info = client.train(gate="xor")
            assert client.predict(info.model_id, [[0, 1]]).labels == [1]
    finally:
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
    assert server.proc is not None and server.proc.returncode == 0
    # The last export gives up after its timeout (OpenTelemetry's own default: 10 s, 9 s here).
    assert took < EXPORT_TIMEOUT_SECONDS + 3.0, took


def test_the_client_sends_the_current_span_only():
    assert trace_headers() == ()  # no span current: no header
    with TracerProvider().get_tracer("test").start_as_current_span("work") as span:
        ctx = span.get_span_context()
        assert trace_headers() == (
            ("traceparent", f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"),
        )
    assert trace.get_current_span().get_span_context().is_valid is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--otlp-endpoint", "127.0.0.1:4317"], "--otlp-endpoint = '127.0.0.1:4317'"),
        (["--otlp-endpoint", "grpc://collector:4317"], "http://HOST:PORT or https://HOST:PORT"),
        (["--otlp-endpoint", "http://collector"], "--otlp-endpoint = 'http://collector'"),
        (["--trace-sample-ratio", "1.5"], "--trace-sample-ratio = 1.5 is out of range"),
        (["--trace-sample-ratio", "-0.1"], "allowed: 0..1"),
    ],
)
def test_bad_tracing_settings_name_the_setting(argv, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("+", r"\+")):
        load_settings(argv, {})


def test_an_endpoint_without_opentelemetry_installed_stops_start_up_saying_so(monkeypatch):
    monkeypatch.delitem(sys.modules, "gatenet.server.tracing")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    settings = Settings(port=0, metrics_port=-1, store="memory", otlp_endpoint="http://h:4317")
    with pytest.raises(SettingError, match=r"pip install 'gatenet\[tracing\]'"):
        build_server(settings)
