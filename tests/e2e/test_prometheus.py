"""gatenet as a real process, scraped by the real Prometheus; the dashboard's queries run on it."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from gatenet.client import Client, ClientError
from gatenet_testing.e2e_support import (
    POLL,
    as_promql,
    dashboard_queries,
    exposed_metric_names,
    find_tool,
    promql_metric_names,
    run,
    wait_for,
)

pytestmark = pytest.mark.e2e

SVC = 'grpc_service="gatenet.v1.GateService"'
PREDICTS = 3


@pytest.fixture(scope="module")
def traffic(gatenet):
    """One fitted training, PREDICTS predictions of 2 rows, one Predict of a missing model;
    as many V2 REST infers on the HTTP port."""
    with Client(gatenet.target, timeout=60) as client:
        model = client.train(gate="xor")
        assert model.fit
        for _ in range(PREDICTS):
            assert client.predict(model.model_id, [[0, 1], [1, 1]]).labels.tolist() == [1, 0]
        with pytest.raises(ClientError):
            client.predict("no-such-model", [[0, 1]])
    infer = {"inputs": [{"name": "inputs", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}]}
    url = f"http://127.0.0.1:{gatenet.http_port}/v2/models/{model.model_id}/infer"
    for _ in range(PREDICTS):
        request = urllib.request.Request(
            url, json.dumps(infer).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    return model


def test_dashboard_reads_only_metrics_gatenet_exposes(gatenet, traffic):
    exposed = exposed_metric_names(gatenet.metrics_text())
    synthetic = {"up"}  # written by Prometheus itself for every target
    for title, expr in dashboard_queries():
        missing = promql_metric_names(expr) - exposed - synthetic
        assert not missing, f"panel {title!r} queries {missing}, not on gatenet's /metrics"


def test_promtool_finds_no_problems_in_metrics(gatenet, traffic):
    result = run([find_tool("promtool"), "check", "metrics"], input=gatenet.metrics_text())
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_prometheus_scrapes_what_happened(gatenet, prometheus, traffic):
    def gatenet_target():
        targets = prometheus.api("targets", state="active")["activeTargets"]
        ours = [t for t in targets if t["labels"]["job"] == "gatenet"]
        assert len(ours) <= 1, targets
        return ours[0] if ours and ours[0]["health"] == "up" else None

    target = wait_for("the gatenet target up", gatenet_target, 30, prometheus.log)
    assert target["scrapeUrl"] == gatenet.metrics_url

    expected = {
        f'grpc_server_handled_total{{{SVC}, grpc_method="Train", grpc_code="OK"}}': 1,
        f'grpc_server_handled_total{{{SVC}, grpc_method="Predict", grpc_code="OK"}}': PREDICTS,
        f'grpc_server_handled_total{{{SVC}, grpc_method="Predict", grpc_code="NOT_FOUND"}}': 1,
        'gatenet_trainings_total{task="gate", outcome="fit"}': 1,
        "sum(gatenet_trainings_total)": 1,
        "gatenet_models": 1,
        "gatenet_predicted_rows_total": 2 * PREDICTS + PREDICTS,  # gRPC 2 rows, V2 REST 1
    }

    def values():
        got = {expr: prometheus.value(expr) for expr in expected}
        return got if got == expected else None

    # Polled: the traffic happened before the scrapes that count it.
    wait_for(f"Prometheus to show {expected}", values, 30, prometheus.log)


def test_every_dashboard_query_runs_on_prometheus(prometheus, traffic):
    """Each query is valid PromQL and, once a few scrapes are in, returns series."""
    wait_for("2 scrapes", lambda: (prometheus.value("count_over_time(up[1m])") or 0) >= 2, 30)
    deadline = time.monotonic() + 30
    for title, expr in dashboard_queries():
        promql = as_promql(expr)
        now = time.time()
        prometheus.api("query_range", query=promql, start=now - 60, end=now, step=2)
        while not prometheus.query(promql):
            assert time.monotonic() < deadline, f"panel {title!r}: no series for {promql}"
            time.sleep(POLL)
