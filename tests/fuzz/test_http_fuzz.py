"""The HTTP part of the fuzz suite: seeded requests to every route of the HTTP port (mutated
and random bodies, binary tensor data with wrong sizes, odd headers, methods and paths) on
the real server with auth on. None may get a 5xx or lose its connection without an answer;
afterwards the server is ready and still answers right. bench/fuzz.py runs more of them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from gatenet.client import Client
from gatenet_testing.fuzz import http_calls
from gatenet_testing.http_support import XOR_LABELS, XOR_ROWS, infer_body, request, xor_model_file

SEED = 23
CASES = 600
READER = "fuzz-reader"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    from gatenet_testing.servers import start_server

    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"{READER} read\n")
    srv = start_server(tokens_file=str(tokens), auth_token="fuzz-admin", max_predict_rows=1024)
    with Client(srv.target, timeout=60, token="fuzz-admin") as c:
        info = c.import_model(xor_model_file(), name="fuzz-xor")
    yield srv, [info.model_id, info.name]
    srv.stop(0)


def test_no_http_request_gets_a_5xx_and_the_server_stays_right(fuzzed):
    srv, names = fuzzed
    batch = http_calls.cases(SEED, CASES, names, [READER, "fuzz-admin", "wrong"])
    outcomes = http_calls.run("127.0.0.1", srv.http.port, batch)
    assert http_calls.findings(outcomes, SEED) == []
    statuses = Counter(o.status for o in outcomes)
    # The generator reaches the answers that matter: right ones, refusals of every kind.
    assert {200, 400, 401, 404, 405} <= set(statuses), statuses
    answered = {(o.case.route, o.status) for o in outcomes}
    assert {("/v1/{method}", 200), ("/v1/{method}", 401), ("/v1/{method}", 404)} <= answered
    assert ("/v2/models/{name}/infer", 200) in answered
    base = f"http://127.0.0.1:{srv.http.port}"
    assert request(base + "/v2/health/ready").status == 200
    answer = request(
        base + "/v2/models/fuzz-xor/infer",
        infer_body(XOR_ROWS),
        {"Authorization": f"Bearer {READER}"},
    )
    assert json.loads(answer.body)["outputs"][1]["data"] == XOR_LABELS


def test_a_case_replays_alone():
    one = http_calls.case(SEED, 17, ["m"], ["t"])
    assert one == http_calls.cases(SEED, 18, ["m"], ["t"])[17]
