"""The real tritonclient[http] against gatenet's V2 REST port: its defaults (binary tensor
data both ways) and binary_data=False (JSON data), by model id and by name."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gatenet_testing
from gatenet.client import Client
from gatenet_testing.http_support import XOR_ROWS, xor_model_file

REPO = Path(__file__).resolve().parents[3]
XOR_LABELS = [0, 1, 1, 0]


@pytest.fixture(scope="module")
def triton_python() -> str:
    """The python of the tritonclient venv, made by scripts/ensure-tritonclient.sh if missing."""
    script = REPO / "scripts" / "ensure-tritonclient.sh"
    made = subprocess.run([str(script)], capture_output=True, text=True, timeout=600, cwd=REPO)
    if made.returncode != 0:
        why = f"{script.name} failed ({made.returncode}): {made.stderr.strip()[-2000:]}"
        if os.environ.get("GATENET_REQUIRE_TOOLS", "") not in ("", "0"):
            pytest.fail(f"{why}; GATENET_REQUIRE_TOOLS is set")
        pytest.skip(f"{why}; GATENET_REQUIRE_TOOLS=1 makes this a failure")
    return str(REPO / made.stdout.strip().splitlines()[-1])


def tritonclient(python: str, url: str, calls: list[dict], token: str = "") -> list[dict]:
    """Run the calls through gatenet_testing/tritonclient_http_driver.py in the venv."""
    driver = Path(gatenet_testing.__file__).with_name("tritonclient_http_driver.py")
    job = json.dumps({"url": url, "token": token, "calls": calls})
    done = subprocess.run(
        [python, str(driver)], input=job, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == len(calls)
    return results


@pytest.mark.e2e
def test_tritonclient_http_predicts_gatenet_models(served, triton_python: str):
    table = np.asarray(XOR_ROWS, dtype=np.float32)
    sizes = {1: table[1:2], 4: table, 1024: np.tile(table, (256, 1))}
    calls = {
        "live": {"op": "is_server_live"},
        "ready": {"op": "is_server_ready"},
        "model ready": {"op": "is_model_ready", "model": served.name},
        "unknown ready": {"op": "is_model_ready", "model": "no-such-model"},
        "server metadata": {"op": "get_server_metadata"},
        "model metadata": {"op": "get_model_metadata", "model": served.model_id},
        "label only": {"op": "infer", "model": served.name, "rows": XOR_ROWS, "outputs": ["label"]},
        "INT64": {"op": "infer", "model": served.name, "rows": XOR_ROWS, "datatype": "INT64"},
        "wrong shape": {"op": "infer", "model": served.name, "rows": [[0, 1, 1]]},
        "unknown model": {"op": "infer", "model": "no-such-model", "rows": XOR_ROWS},
    }
    for ref in (served.model_id, served.name):
        for size, rows in sizes.items():
            for binary in (True, False):
                calls[f"infer {size} {ref} {binary}"] = {
                    "op": "infer",
                    "model": ref,
                    "rows": rows.tolist(),
                    "id": "t1",
                    "binary": binary,
                }
    url = served.base.removeprefix("http://")
    answers = tritonclient(triton_python, url, list(calls.values()))
    got = dict(zip(calls, answers, strict=True))
    ok = {key: answer.get("ok") for key, answer in got.items()}
    assert [ok["live"], ok["ready"], ok["model ready"], ok["unknown ready"]] == [
        True,
        True,
        True,
        False,
    ]
    assert ok["server metadata"]["name"] == "gatenet"
    metadata = ok["model metadata"]
    assert metadata["inputs"] == [{"name": "inputs", "datatype": "FP32", "shape": [-1, 2]}]
    for ref in (served.model_id, served.name):
        for size in sizes:
            for binary in (True, False):
                result = ok[f"infer {size} {ref} {binary}"]
                labels = result["outputs"]["label"]
                probabilities = result["outputs"]["probability"]
                assert labels["dtype"] == "bool" and probabilities["dtype"] == "float32"
                expected = XOR_LABELS[1:2] if size == 1 else XOR_LABELS * (size // 4)
                assert [int(v[0]) for v in labels["values"]] == expected
                assert len(probabilities["values"]) == size
                response = result["response"]
                assert response["id"] == "t1" and response["model_name"] == ref
                sent_as = [("data" in o, "parameters" in o) for o in response["outputs"]]
                assert sent_as == [(not binary, binary)] * 2, response
    assert list(ok["label only"]["outputs"]) == ["label"]
    assert [int(v[0]) for v in ok["INT64"]["outputs"]["label"]["values"]] == XOR_LABELS
    wrong, missing = got["wrong shape"]["error"], got["unknown model"]["error"]
    assert wrong["status"] == "400" and "[1, 3]" in wrong["message"], wrong
    assert missing["status"] == "404" and "no-such-model" in missing["message"], missing


@pytest.mark.e2e
def test_tritonclient_http_sends_the_bearer_token(make_server, triton_python: str):
    srv = make_server(auth_token="admin-token")
    with Client(srv.target, timeout=60, token="admin-token") as c:
        name = c.import_model(xor_model_file(), name="xor-auth").name
    url = f"127.0.0.1:{srv.http.port}"
    call = {"op": "infer", "model": name, "rows": XOR_ROWS}
    live, refused = tritonclient(triton_python, url, [{"op": "is_server_live"}, call])
    assert live == {"ok": True}, "health is open"
    assert refused["error"]["status"] == "401"
    assert "authorization" in refused["error"]["message"]
    (allowed,) = tritonclient(triton_python, url, [call], token="admin-token")
    assert [int(v[0]) for v in allowed["ok"]["outputs"]["label"]["values"]] == XOR_LABELS
