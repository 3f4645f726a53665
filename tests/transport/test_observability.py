"""Metrics, health, reflection and logs of a real server, read the way operators read them."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from gatenet.client import Client, ClientError
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc

# Each starts servers of its own, whose workers warm torch up: make test's second step.
pytestmark = pytest.mark.slow

SERVICE = "gatenet.v1.GateService"


def scrape(server) -> dict[tuple[str, frozenset], float]:
    """Every sample on /metrics, keyed by name and label set."""
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def handled(samples, method: str, code: str, service: str = SERVICE, kind: str = "unary"):
    return sample(
        samples,
        "grpc_server_handled_total",
        grpc_type=kind,
        grpc_service=service,
        grpc_method=method,
        grpc_code=code,
    )


def test_grpc_and_training_metrics_count_what_happened(make_server):
    srv = make_server()
    with Client(srv.target) as c:
        model = c.train(gate="xor").model_id
        c.train(gate="xor", hidden_sizes=[], steps=20, restarts=1)  # cannot fit: no hidden layer
        for _ in range(3):
            c.predict(model, [[0, 1], [1, 1]])
        with pytest.raises(ClientError):
            c.predict("missing", [[0, 1]])
        with pytest.raises(ClientError):
            c.train(gate="nope")
        with pytest.raises(ClientError):
            c.train(gate="xor", steps=1_000_000, early_stop=False, restarts=64, timeout=0.3)
        list(c.train_stream(gate="and"))
        assert c.health() == "SERVING"
    s = scrape(srv)
    assert handled(s, "Train", "OK") == 2
    assert handled(s, "Train", "INVALID_ARGUMENT") == 1
    assert handled(s, "Train", "DEADLINE_EXCEEDED") == 1
    assert handled(s, "Predict", "OK") == 3
    assert handled(s, "Predict", "NOT_FOUND") == 1
    assert handled(s, "TrainStream", "OK", kind="server_stream") == 1
    assert (
        sample(
            s,
            "grpc_server_started_total",
            grpc_type="unary",
            grpc_service=SERVICE,
            grpc_method="Predict",
        )
        == 4
    )
    assert handled(s, "Check", "OK", service="grpc.health.v1.Health") >= 1
    assert (
        sample(
            s,
            "grpc_server_handling_seconds_count",
            grpc_type="unary",
            grpc_service=SERVICE,
            grpc_method="Predict",
        )
        == 4
    )
    assert (
        sample(
            s,
            "grpc_server_msg_sent_total",
            grpc_type="server_stream",
            grpc_service=SERVICE,
            grpc_method="TrainStream",
        )
        >= 1
    )
    assert sample(s, "gatenet_trainings_total", task="gate", outcome="fit") == 2
    assert sample(s, "gatenet_trainings_total", task="gate", outcome="not_fit") == 1
    assert sample(s, "gatenet_trainings_total", task="gate", outcome="cancelled") == 1
    assert sample(s, "gatenet_models") == 3
    assert sample(s, "gatenet_predicted_rows_total") == 6
    assert sample(s, "gatenet_predict_batch_rows_count") == 3
    assert sample(s, "gatenet_training_steps_total") > 20
    assert sample(s, "gatenet_training_seconds_count", task="gate") == 4
    assert sample(s, "gatenet_trainings_in_progress") == 0
    assert any(name == "gatenet_build_info" for name, _ in s)
    assert any(name == "process_resident_memory_bytes" for name, _ in s)
    assert not any("model_id" in dict(labels) for _, labels in s)


def test_health_flips_to_not_serving_as_soon_as_shutdown_begins(make_server, open_channel):
    srv = make_server(grace_seconds=2.0)
    channel = open_channel(srv.target)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    # A training in flight keeps the server draining while we watch the status flip.
    stub = gatenet_pb2_grpc.GateServiceStub(channel)
    training = stub.TrainStream(
        pb.TrainRequest(gate=pb.GateTask(name="xor"), steps=1_000_000, early_stop=False, restarts=8)
    )
    assert next(training).HasField("progress")
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert next(training).HasField("progress"), "still draining after the status flipped"
    training.cancel()
    stopper.join(timeout=30)
    assert not stopper.is_alive()


def test_reflection_lists_gateservice_and_health(server, open_channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(open_channel(server.target))
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_one_json_log_line_per_rpc_and_training(make_server, capfd):
    import json
    import logging

    from gatenet.server import logs

    srv = make_server()
    logs.configure("INFO", "json")
    try:
        with Client(srv.target) as c:
            model = c.train(gate="or").model_id
            with pytest.raises(ClientError):
                c.get_model("absent")
    finally:
        logging.getLogger("gatenet").setLevel("WARNING")
        logging.getLogger("gatenet").handlers[:] = []  # capfd's stderr closes with this test
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    trainings = [e for e in lines if e["msg"] == "training"]
    assert trainings and trainings[-1]["outcome"] == "fit"
    assert trainings[-1]["task"] == "gate" and trainings[-1]["label"] == "or"
    rpcs = [e for e in lines if e["msg"] == "rpc"]
    train_line = next(e for e in rpcs if e["method"].endswith("/Train"))
    assert train_line["code"] == "OK" and train_line["model_id"] == model
    assert any(e["method"].endswith("/GetModel") and e["code"] == "NOT_FOUND" for e in rpcs)


def test_a_cancelled_training_writes_its_log_line_too(make_server, capfd):
    import json
    import logging

    from gatenet.server import logs

    srv = make_server()
    logs.configure("INFO", "json")
    try:
        with Client(srv.target, retries=0) as c:
            with pytest.raises(ClientError):
                c.train(gate="xor", steps=1_000_000, early_stop=False, timeout=0.5)
            c.health()  # a later call: the cancelled one has been accounted by now
    finally:
        logging.getLogger("gatenet").setLevel("WARNING")
        logging.getLogger("gatenet").handlers[:] = []
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    trainings = [e for e in lines if e["msg"] == "training"]
    assert [e["outcome"] for e in trainings] == ["cancelled"]
    assert any(e["msg"] == "rpc" and e["code"] == "DEADLINE_EXCEEDED" for e in lines)
