"""The V2 REST protocol on the HTTP port, through the real server: routes, tensors, errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from gatenet.client import Client
from gatenet_testing.http_support import XOR_LABELS, XOR_ROWS, infer_body, request

HEADER = "Inference-Header-Content-Length"


def test_health_metadata_and_ready_routes(served):
    base = served.base
    assert request(base + "/v2/health/live").json() == {"live": True}
    assert request(base + "/v2/health/ready").json() == {"ready": True}
    server = request(base + "/v2").json()
    assert server["name"] == "gatenet" and "binary_tensor_data" in server["extensions"]
    for ref in (served.model_id, served.name):
        for path in (f"/v2/models/{ref}", f"/v2/models/{ref}/versions/1"):
            meta = request(base + path).json()
            assert meta["name"] == ref and meta["versions"] == ["1"]
            assert meta["inputs"] == [{"name": "inputs", "datatype": "FP32", "shape": [-1, 2]}]
            assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
                ("probability", "FP32"),
                ("label", "BOOL"),
            ]
            assert request(base + path + "/ready").json() == {"name": ref, "ready": True}
    missing = request(base + "/v2/models/no-such-model/ready")
    assert missing.status == 404 and "no-such-model" in missing.json()["error"]
    version = request(f"{base}/v2/models/{served.name}/versions/2")
    assert version.status == 404 and "'2' is not a version" in version.json()["error"]


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT32", "INT64", "UINT8", "BOOL"])
def test_infer_takes_every_datatype_as_json_data(served, datatype: str):
    rows = [[bool(v) for v in row] for row in XOR_ROWS] if datatype == "BOOL" else XOR_ROWS
    reply = request(f"{served.base}/v2/models/{served.name}/infer", infer_body(rows, datatype))
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["model_name"] == served.name and answer["model_version"] == "1"
    probability, label = answer["outputs"]
    assert label == {"name": "label", "datatype": "BOOL", "shape": [4, 1], "data": XOR_LABELS}
    assert probability["shape"] == [4, 1] and probability["datatype"] == "FP32"
    assert [p > 0.5 for p in probability["data"]] == XOR_LABELS


def test_infer_takes_flat_data_an_id_and_a_version_route(served):
    body = json.dumps(
        {
            "id": "call-7",
            "inputs": [
                {"name": "inputs", "datatype": "FP32", "shape": [4, 2], "data": sum(XOR_ROWS, [])}
            ],
            "outputs": [{"name": "label"}],
        }
    ).encode()
    reply = request(f"{served.base}/v2/models/{served.model_id}/versions/1/infer", body).json()
    assert reply["id"] == "call-7" and reply["model_name"] == served.model_id
    assert [o["name"] for o in reply["outputs"]] == ["label"]
    assert reply["outputs"][0]["data"] == XOR_LABELS


def test_binary_tensor_data_both_ways(served):
    """Triton's extension as tritonclient.http sends it: a JSON header, then the raw tensors."""
    rows = np.tile(np.asarray(XOR_ROWS, "<f4"), (256, 1))  # 1024 rows
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "inputs",
                    "datatype": "FP32",
                    "shape": [1024, 2],
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "outputs": [
                {"name": "probability", "parameters": {"binary_data": True}},
                {"name": "label", "parameters": {"binary_data": False}},
            ],
        }
    ).encode()
    reply = request(
        f"{served.base}/v2/models/{served.name}/infer",
        header + rows.tobytes(),
        {HEADER: str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert reply.status == 200, reply.body
    length = int(reply.headers[HEADER])
    answer = json.loads(reply.body[:length])
    probability, label = answer["outputs"]
    assert probability["parameters"] == {"binary_data_size": 4096} and "data" not in probability
    values = np.frombuffer(reply.body[length:], "<f4")
    assert len(values) == 1024
    assert ((values > 0.5).tolist()) == XOR_LABELS * 256 == label["data"]


def test_binary_output_for_every_output_when_asked_for_all(served):
    body = json.loads(infer_body(XOR_ROWS))
    body["parameters"] = {"binary_data_output": True}
    reply = request(f"{served.base}/v2/models/{served.name}/infer", json.dumps(body).encode())
    length = int(reply.headers[HEADER])
    outputs = json.loads(reply.body[:length])["outputs"]
    assert [o["parameters"]["binary_data_size"] for o in outputs] == [16, 4]
    assert list(reply.body[length + 16 :]) == [0, 1, 1, 0]


def _tensor(**fields):
    return {"name": "inputs", "datatype": "FP32", "shape": [1, 2], "data": [0, 1], **fields}


def _sized(size, **fields):
    tensor = {"name": "inputs", "datatype": "FP32", "shape": [1, 2], **fields}
    return {**tensor, "parameters": {"binary_data_size": size}}


def _binary(tensor, tail: int | bytes):
    """A body of a JSON header and `tail` (bytes, or that many zero bytes), and its header
    length header."""
    header = json.dumps({"inputs": [tensor]}).encode()
    return header + (b"\0" * tail if isinstance(tail, int) else tail), {HEADER: str(len(header))}


# (body, headers, status, fragments of the error message)
BAD = {
    "not JSON": (b"{", {}, 400, ["body: is not valid JSON"]),
    "not UTF-8": (b"\xff\xfe{}", {}, 400, ["body: is not valid JSON"]),
    "nested too deeply": (b"[" * 100_000, {}, 400, ["depth limit exceeded"]),
    "an array": (b"[]", {}, 400, ["body: is a JSON array, not an object"]),
    "no inputs": (b"{}", {}, 400, ["inputs: is missing"]),
    "inputs not a list": (b'{"inputs": 3}', {}, 400, ["inputs: is a JSON number"]),
    "two tensors": ({"inputs": [_tensor(), _tensor()]}, {}, 400, ["2 tensors given"]),
    "tensor not an object": ({"inputs": [3]}, {}, 400, ["inputs[0]: is not a JSON object"]),
    "no name": (
        {"inputs": [{"datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]},
        {},
        400,
        ["inputs[0].name: is missing"],
    ),
    "wrong name": ({"inputs": [_tensor(name="x")]}, {}, 400, ["inputs[0].name", "'x'"]),
    "BYTES": ({"inputs": [_tensor(datatype="BYTES")]}, {}, 400, ["inputs[0].datatype", "BYTES"]),
    "shape of strings": ({"inputs": [_tensor(shape=["1", 2])]}, {}, 400, ["inputs[0].shape[0]"]),
    "shape too big": ({"inputs": [_tensor(shape=[2**70, 2])]}, {}, 400, ["inputs[0].shape[0]"]),
    "shape mismatch": (
        {"inputs": [_tensor(shape=[1, 3], data=[0, 1, 1])]},
        {},
        400,
        ["inputs[0].shape", "[-1, 2]"],
    ),
    "no rows": ({"inputs": [_tensor(shape=[0, 2], data=[])]}, {}, 400, ["no rows"]),
    "too many rows": (
        {"inputs": [_tensor(shape=[4096, 2], data=[0] * 8192)]},
        {},
        400,
        ["4096 rows", "exceeds the limit 2048"],
    ),
    "count mismatch": (
        {"inputs": [_tensor(data=[0, 1, 1])]},
        {},
        400,
        ["inputs[0].data", "3 values", "expected 2"],
    ),
    "no data": (
        {"inputs": [{"name": "inputs", "datatype": "FP32", "shape": [1, 2]}]},
        {},
        400,
        ["inputs[0].data: is missing"],
    ),
    "strings": ({"inputs": [_tensor(data=["a", "b"])]}, {}, 400, ["inputs[0].data", "not numbers"]),
    "ragged": (
        {"inputs": [_tensor(shape=[2, 2], data=[[0, 1], [1]])]},
        {},
        400,
        ["inputs[0].data"],
    ),
    "objects": ({"inputs": [_tensor(data=[{}, {}])]}, {}, 400, ["inputs[0].data"]),
    "a number": ({"inputs": [_tensor(data=3)]}, {}, 400, ["inputs[0].data", "list of values"]),
    "beyond FP32": ({"inputs": [_tensor(data=[1e300, 0])]}, {}, 400, ["beyond FP32's range"]),
    "gzip that is not": (b"{}", {"Content-Encoding": "gzip"}, 400, ["body: cannot be read"]),
    "NaN (not JSON)": (
        b'{"inputs":[{"name":"inputs","datatype":"FP32","shape":[1,2],"data":[NaN,0]}]}',
        {},
        400,
        ["is not valid JSON"],
    ),
    "NaN as binary data": (
        *_binary(_sized(8), np.array([np.nan, 0], "<f4").tobytes()),
        400,
        ["row 0, column 0 is nan", "finite"],
    ),
    "beyond INT32": (
        {"inputs": [_tensor(datatype="INT32", data=[2**40, 0])]},
        {},
        400,
        ["beyond INT32's range"],
    ),
    "floats as INT64": (
        {"inputs": [_tensor(datatype="INT64", data=[0.5, 0])]},
        {},
        400,
        ["not integers"],
    ),
    "numbers as BOOL": (
        {"inputs": [_tensor(datatype="BOOL", data=[0, 1])]},
        {},
        400,
        ["true or false"],
    ),
    "unknown output": (
        {"inputs": [_tensor()], "outputs": [{"name": "z"}]},
        {},
        400,
        ["outputs[0].name", "'z'"],
    ),
    "classification": (
        {
            "inputs": [_tensor()],
            "outputs": [{"name": "label", "parameters": {"classification": 2}}],
        },
        {},
        400,
        ["classification is not supported"],
    ),
    "binary flag a string": (
        {"inputs": [_tensor()], "parameters": {"binary_data_output": "yes"}},
        {},
        400,
        ["parameters.binary_data_output"],
    ),
    "id a number": ({"id": 5, "inputs": [_tensor()]}, {}, 400, ["id: is a JSON number"]),
    "header length too long": ({"inputs": [_tensor()]}, {HEADER: "99999"}, 400, [HEADER]),
    "header length not a number": ({"inputs": [_tensor()]}, {HEADER: "x"}, 400, [HEADER]),
    "binary without a size": (
        *_binary(_tensor(), 8),
        400,
        ["no input has parameters.binary_data_size"],
    ),
    "binary size wrong": (*_binary(_sized(4), 4), 400, ["binary_data_size", "expected 8"]),
    "binary size not what follows": (*_binary(_sized(8), 4), 400, ["8 bytes, but 4 bytes follow"]),
    "binary and data": (
        *_binary(_sized(8, data=[0, 1]), 8),
        400,
        ["inputs[0].data", "binary_data_size"],
    ),
    "binary size negative": (*_binary(_sized(-1), 0), 400, ["is not a byte count"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_infer_bodies_get_a_clean_400_naming_the_field(served, case: str):
    body, headers, status, fragments = BAD[case]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = request(f"{served.base}/v2/models/{served.name}/infer", data, headers)
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    message = reply.json()["error"]
    for fragment in fragments:
        assert fragment in message, message


def test_unknown_models_paths_and_methods(served):
    base = served.base
    missing = request(f"{base}/v2/models/no-such-model/infer", infer_body(XOR_ROWS))
    assert missing.status == 404 and "'no-such-model'" in missing.json()["error"]
    wrong_version = request(
        f"{base}/v2/models/{served.name}/versions/3/infer", infer_body(XOR_ROWS)
    )
    assert wrong_version.status == 404 and "model_version" in wrong_version.json()["error"]
    get_infer = request(f"{base}/v2/models/{served.name}/infer")
    assert get_infer.status == 405 and get_infer.headers["Allow"] == "POST"
    nowhere = request(f"{base}/v3/anything")
    assert nowhere.status == 404 and "/v3/anything" in nowhere.json()["error"]


def test_a_body_over_the_message_limit_is_413(served):
    limit = served.server.settings.max_message_bytes
    reply = request(f"{served.base}/v2/models/{served.name}/infer", b" " * (limit + 1))
    assert reply.status == 413
    assert f"--max-message-bytes {limit}" in reply.json()["error"]


def test_big_forwards_and_the_work_bound_as_on_the_grpc_port(make_server, wide_model_file):
    # 240 rows of a 64-64-1 model (4160 multiply-adds a row) run on the loop, 1000 on a thread.
    srv = make_server(max_predict_work=5_000_000, max_predict_rows=2048)
    with Client(srv.target, timeout=60) as c:
        model_id = c.import_model(wide_model_file).model_id
        rows = np.random.default_rng(1).uniform(-2, 2, size=(1202, 64)).astype(np.float32)
        expected = c.predict(model_id, rows[:1000]).probabilities
    url = f"http://127.0.0.1:{srv.http.port}/v2/models/{model_id}/infer"
    for count in (240, 1000):
        reply = request(url, infer_body(rows[:count].tolist()))
        assert reply.status == 200, reply.body
        probability = reply.json()["outputs"][0]["data"]
        # (BLAS may round the last bit differently for another batch size)
        np.testing.assert_allclose(np.float32(probability), expected[:count], rtol=1e-6)
    refused = request(url, infer_body(rows.tolist()))
    assert refused.status == 400
    message = refused.json()["error"]
    assert "inputs[0].shape" in message and "1202 rows" in message
    assert "--max-predict-work" in message


def _chunked(port: int, path: str, body: bytes) -> bytes:
    """The status line and body of a POST whose body goes as chunks, sent at once."""
    import socket

    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 1000]), body[i : i + 1000])
        for i in range(0, len(body), 1000)
    )
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0] + b" " + answer.partition(b"\r\n\r\n")[2]


def test_a_chunked_body_is_read_whole_and_bounded_by_the_message_limit(served):
    port, path = served.server.http.port, f"/v2/models/{served.name}/infer"
    fine = _chunked(port, path, infer_body(XOR_ROWS))
    assert fine.startswith(b"HTTP/1.1 200"), fine
    assert b'"label"' in fine
    limit = served.server.settings.max_message_bytes
    huge = _chunked(port, path, b" " * (limit + 1))
    assert huge.startswith(b"HTTP/1.1 413"), huge[:200]
    assert f"--max-message-bytes {limit}".encode() in huge


def test_ready_turns_false_once_draining_begins_and_new_requests_get_503(make_server):
    srv = make_server()
    base = f"http://127.0.0.1:{srv.http.port}"
    assert request(base + "/v2/health/ready").status == 200
    srv._loop.run(srv.health.enter_graceful_shutdown())  # what stop() does first
    not_ready = request(base + "/v2/health/ready")
    assert not_ready.status == 400 and not_ready.json() == {"ready": False}
    assert request(base + "/v2/health/live").status == 200
    srv._loop.run(srv._wrapping.drain.refuse_calls(0, 0))  # what stop() does after the delay
    refused = request(base + "/v2/health/live")
    assert refused.status == 503 and "shutting down" in refused.json()["error"]


def test_http_port_minus_one_turns_it_off(make_server):
    assert make_server(http_port=-1).http is None


def test_a_taken_http_port_stops_start_up_naming_the_flag():
    import socket

    from gatenet.server.app import build_server
    from gatenet_testing.servers import LOOPBACK

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(
            OSError, match=rf"cannot bind HTTP to 127.0.0.1:{port} \(--host/--http-port\)"
        ):
            build_server(replace(LOOPBACK, http_port=port))
