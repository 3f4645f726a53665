"""The Open Inference Protocol (KServe V2) service on gatenet's port, through the real server.

Requests built from gatenet's own copy of the V2 proto check every datatype, in
typed contents and in raw_input_contents, and every error; the real tritonclient
(in its own venv: it needs protobuf < 7) checks that a stock client predicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

import gatenet_testing
from gatenet.client import Client
from gatenet.inference import grpc_service_pb2 as v2
from gatenet.inference import grpc_service_pb2_grpc as v2_grpc

SERVICE = "inference.GRPCInferenceService"
REPO = Path(__file__).resolve().parents[2]
XOR_ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_LABELS = [0, 1, 1, 0]
Tensor = v2.ModelInferRequest.InferInputTensor
# numpy type of each accepted datatype, and the InferTensorContents field of its typed values
DATATYPES = {
    "FP32": (np.float32, "fp32_contents"),
    "FP64": (np.float64, "fp64_contents"),
    "INT32": (np.int32, "int_contents"),
    "INT64": (np.int64, "int64_contents"),
    "UINT8": (np.uint8, "uint_contents"),
    "BOOL": (np.bool_, "bool_contents"),
}


@pytest.fixture
def stub(server, open_channel) -> v2_grpc.GRPCInferenceServiceStub:
    return v2_grpc.GRPCInferenceServiceStub(open_channel(server.target))


def infer_request(model: str, rows, datatype: str = "FP32", raw: bool = True, **fields):
    """A ModelInferRequest of `rows` as the one `inputs` tensor, raw or in typed contents."""
    kind, field = DATATYPES[datatype]
    values = np.asarray(rows, dtype=kind)
    tensor = Tensor(name="inputs", datatype=datatype, shape=values.shape)
    request = v2.ModelInferRequest(model_name=model, inputs=[tensor], **fields)
    if raw:
        request.raw_input_contents.append(values.astype(values.dtype.newbyteorder("<")).tobytes())
    else:
        getattr(tensor.contents, field).extend(values.ravel().tolist())
        request.inputs[0].CopyFrom(tensor)
    return request


def outputs(response: v2.ModelInferResponse) -> dict[str, np.ndarray]:
    """Each output by name, read from raw_output_contents as tritonclient's as_numpy does."""
    kinds = {"FP32": "<f4", "BOOL": np.bool_}
    assert len(response.raw_output_contents) == len(response.outputs)
    return {
        out.name: np.frombuffer(raw, dtype=kinds[out.datatype]).reshape(out.shape)
        for out, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


def expect_status(code: grpc.StatusCode, *fragments: str):
    """pytest.raises for an RpcError with this code; the message fragments are checked after."""

    class _Expect:
        def __enter__(self):
            return self

        def __exit__(self, kind, err, tb) -> bool:
            assert kind is not None and issubclass(kind, grpc.RpcError), f"no error, want {code}"
            assert err.code() == code, f"{err.code()}: {err.details()}"
            for fragment in fragments:
                assert fragment in err.details(), f"{fragment!r} not in {err.details()!r}"
            return True

    return _Expect()


# -- server and model metadata -------------------------------------------------------------


def test_server_is_live_ready_and_describes_itself(stub):
    from importlib.metadata import version

    assert stub.ServerLive(v2.ServerLiveRequest()).live
    assert stub.ServerReady(v2.ServerReadyRequest()).ready
    meta = stub.ServerMetadata(v2.ServerMetadataRequest())
    assert (meta.name, meta.version, list(meta.extensions)) == ("gatenet", version("gatenet"), [])


def test_model_metadata_by_id_and_by_name(stub, xor):
    for ref in (xor.model_id, xor.name):
        meta = stub.ModelMetadata(v2.ModelMetadataRequest(name=ref))
        assert (meta.name, list(meta.versions), meta.platform) == (ref, ["1"], "gatenet")
        assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [
            ("inputs", "FP32", [-1, 2])
        ]
        assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [
            ("probability", "FP32", [-1, 1]),
            ("label", "BOOL", [-1, 1]),
        ]
    with expect_status(grpc.StatusCode.NOT_FOUND, "no-such-model"):
        stub.ModelMetadata(v2.ModelMetadataRequest(name="no-such-model"))


def test_model_config_describes_a_batched_model_for_perf_analyzer(stub, xor, server):
    config = stub.ModelConfig(v2.ModelConfigRequest(name=xor.name)).config
    assert (config.name, config.platform) == (xor.name, "gatenet")
    assert config.max_batch_size == server.settings.max_predict_rows
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [
        ("inputs", v2.TYPE_FP32, [2])
    ]
    assert [(t.name, t.data_type, list(t.dims)) for t in config.output] == [
        ("probability", v2.TYPE_FP32, [1]),
        ("label", v2.TYPE_BOOL, [1]),
    ]
    with expect_status(grpc.StatusCode.NOT_FOUND, "model_version"):
        stub.ModelConfig(v2.ModelConfigRequest(name=xor.name, version="3"))


def test_model_ready_for_known_models_at_version_1(stub, xor):
    model_id, name = xor.model_id, xor.name
    assert stub.ModelReady(v2.ModelReadyRequest(name=model_id)).ready
    assert stub.ModelReady(v2.ModelReadyRequest(name=name, version="1")).ready
    assert not stub.ModelReady(v2.ModelReadyRequest(name=name, version="2")).ready
    assert not stub.ModelReady(v2.ModelReadyRequest(name="no-such-model")).ready


def test_repository_index_lists_models_by_name_else_id(server, stub, xor):
    with Client(server.target, timeout=60) as c:
        unnamed = c.train(gate="and", restarts=1, steps=50, early_stop=False).model_id
    index = stub.RepositoryIndex(v2.RepositoryIndexRequest())
    listed = {m.name: (m.version, m.state) for m in index.models}
    assert listed[xor.name] == ("1", "READY")
    assert listed[unnamed] == ("1", "READY")
    assert xor.model_id not in listed, "a named model is listed once, by its name"


# -- ModelInfer ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_every_datatype_predicts_the_truth_table(stub, client, xor, datatype, raw):
    model_id, name = xor.model_id, xor.name
    expected = client.predict(model_id, XOR_ROWS)
    for ref in (model_id, name):
        response = stub.ModelInfer(infer_request(ref, XOR_ROWS, datatype, raw=raw, id="req-7"))
        assert (response.model_name, response.model_version, response.id) == (ref, "1", "req-7")
        got = outputs(response)
        assert list(got) == ["probability", "label"]
        assert got["label"].ravel().astype(int).tolist() == XOR_LABELS
        # The same inference path as Predict: the same bits.
        assert np.array_equal(got["probability"].ravel(), expected.probabilities)
        assert not response.outputs[0].HasField("contents"), "values go in raw_output_contents"


def test_real_valued_rows_match_predict(stub, client, xor):
    rows = np.random.default_rng(0).normal(size=(1024, 2)).astype(np.float32)
    expected = client.predict(xor.model_id, rows)
    got = outputs(stub.ModelInfer(infer_request(xor.model_id, rows)))
    assert got["probability"].shape == (1024, 1) and got["label"].shape == (1024, 1)
    assert np.array_equal(got["probability"].ravel(), expected.probabilities)
    assert got["label"].ravel().astype(int).tolist() == expected.labels.tolist()


def test_requested_outputs_come_back_in_the_order_asked(stub, xor):
    wanted = v2.ModelInferRequest.InferRequestedOutputTensor
    request = infer_request(xor.model_id, XOR_ROWS, outputs=[wanted(name="label")])
    assert list(outputs(stub.ModelInfer(request))) == ["label"]
    request = infer_request(
        xor.model_id, XOR_ROWS, outputs=[wanted(name="label"), wanted(name="probability")]
    )
    assert list(outputs(stub.ModelInfer(request))) == ["label", "probability"]


def _wrong_contents(request: v2.ModelInferRequest) -> v2.ModelInferRequest:
    request.inputs[0].contents.fp32_contents.extend([0.0] * 8)
    return request


def _with(request: v2.ModelInferRequest, **changes) -> v2.ModelInferRequest:
    for path, value in changes.items():
        target, _, field = path.rpartition("__")
        message = request.inputs[0] if target == "input" else request
        if isinstance(value, list):
            message.ClearField(field)
            getattr(message, field).extend(value)
        else:
            setattr(message, field, value)
    return request


WANTED = v2.ModelInferRequest.InferRequestedOutputTensor
INVALID = {
    "wrong shape": (
        lambda m: _with(infer_request(m, XOR_ROWS), input__shape=[4, 3]),
        ["inputs[0].shape", "[4, 3]", "[-1, 2]"],
    ),
    "one dimension": (
        lambda m: _with(infer_request(m, XOR_ROWS), input__shape=[8]),
        ["inputs[0].shape", "[-1, 2]"],
    ),
    "no rows": (
        lambda m: _with(infer_request(m, XOR_ROWS), input__shape=[0, 2]),
        ["inputs[0].shape", "no rows"],
    ),
    "bytes short of the shape": (
        lambda m: _with(infer_request(m, XOR_ROWS), input__shape=[5, 2]),
        ["raw_input_contents[0]", "32 bytes", "expected 40"],
    ),
    "typed values short of the shape": (
        lambda m: _with(infer_request(m, XOR_ROWS, raw=False), input__shape=[5, 2]),
        ["inputs[0].contents.fp32_contents", "8 values", "expected 10"],
    ),
    "values in another datatype's field": (
        lambda m: v2.ModelInferRequest(
            model_name=m,
            inputs=[
                Tensor(
                    name="inputs",
                    datatype="FP32",
                    shape=[4, 2],
                    contents=v2.InferTensorContents(int_contents=[0, 0, 0, 1, 1, 0, 1, 1]),
                )
            ],
        ),
        ["fp32_contents", "0 values", "FP32 values go in fp32_contents"],
    ),
    "unaccepted datatype": (
        lambda m: _with(infer_request(m, XOR_ROWS), input__datatype="FP16"),
        ["inputs[0].datatype", "'FP16'", "FP32, FP64, INT32, INT64, UINT8, BOOL"],
    ),
    "unknown input name": (
        lambda m: _with(infer_request(m, XOR_ROWS), input__name="x"),
        ["inputs[0].name", "'x'", "'inputs'"],
    ),
    "two input tensors": (
        lambda m: v2.ModelInferRequest(
            model_name=m, inputs=[Tensor(name="inputs"), Tensor(name="more")]
        ),
        ["inputs", "2 tensors"],
    ),
    "no input tensor": (lambda m: v2.ModelInferRequest(model_name=m), ["inputs", "0 tensors"]),
    "raw and typed values": (
        lambda m: _wrong_contents(infer_request(m, XOR_ROWS)),
        ["inputs[0].contents", "raw_input_contents"],
    ),
    "two raw entries": (
        lambda m: _with(infer_request(m, XOR_ROWS), raw_input_contents=[b"", b""]),
        ["raw_input_contents", "2 entries"],
    ),
    "nan": (
        lambda m: infer_request(m, [[0, float("nan")]]),
        ["inputs", "row 0, column 1 is nan", "finite"],
    ),
    "inf in FP64": (
        lambda m: infer_request(m, [[float("-inf"), 0]], "FP64", raw=False),
        ["inputs", "value 0 is -inf", "finite"],
    ),
    "FP64 beyond FP32": (
        lambda m: infer_request(m, [[0, 1e300]], "FP64"),
        ["inputs", "value 1 is 1e+300", "FP32's range"],
    ),
    "UINT8 beyond 255": (
        lambda m: v2.ModelInferRequest(
            model_name=m,
            inputs=[
                Tensor(
                    name="inputs",
                    datatype="UINT8",
                    shape=[1, 2],
                    contents=v2.InferTensorContents(uint_contents=[1, 300]),
                )
            ],
        ),
        ["uint_contents", "value 1 is 300", "0..255"],
    ),
    "unknown output": (
        lambda m: infer_request(m, XOR_ROWS, outputs=[WANTED(name="logits")]),
        ["outputs[0].name", "'logits'", "'probability' and 'label'"],
    ),
    "output twice": (
        lambda m: infer_request(m, XOR_ROWS, outputs=[WANTED(name="label"), WANTED(name="label")]),
        ["outputs[1].name", "twice"],
    ),
    "classification": (
        lambda m: infer_request(
            m,
            XOR_ROWS,
            outputs=[
                WANTED(
                    name="label", parameters={"classification": v2.InferParameter(int64_param=2)}
                )
            ],
        ),
        ["outputs[0].parameters", "classification is not supported"],
    ),
    "no model": (lambda m: infer_request("", XOR_ROWS), ["model_name", "empty"]),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_requests_name_the_field_and_the_bound(stub, xor, case):
    build, fragments = INVALID[case]
    with expect_status(grpc.StatusCode.INVALID_ARGUMENT, *fragments):
        stub.ModelInfer(build(xor.model_id))


def test_unknown_model_and_version_are_not_found(stub, xor):
    with expect_status(grpc.StatusCode.NOT_FOUND, "model:", "'no-such-model'"):
        stub.ModelInfer(infer_request("no-such-model", XOR_ROWS))
    with expect_status(grpc.StatusCode.NOT_FOUND, "model_version", "'2'", "'1'"):
        stub.ModelInfer(infer_request(xor.name, XOR_ROWS, model_version="2"))
    assert stub.ModelInfer(infer_request(xor.name, XOR_ROWS, model_version="1")).outputs


def test_a_model_out_of_the_cache_is_read_from_the_store_and_named_in_the_log(
    make_server, open_channel, capfd
):
    import logging

    from gatenet.server import logs

    srv = make_server()
    with Client(srv.target, timeout=60) as c:
        model_id = c.train(gate="xor", name="v2-cold", restarts=8, seed=0).model_id
    stub = v2_grpc.GRPCInferenceServiceStub(open_channel(srv.target))
    logs.configure("DEBUG", "json")  # a ModelInfer answered OK logs at DEBUG
    try:
        for version in ("", "1"):
            srv.registry.clear()  # as after the store comes back: every model read afresh
            answered = stub.ModelInfer(infer_request("v2-cold", XOR_ROWS, model_version=version))
            assert outputs(answered)["label"].ravel().tolist() == XOR_LABELS
        with expect_status(grpc.StatusCode.NOT_FOUND, "model_version", "'2'"):
            stub.ModelInfer(infer_request("v2-cold", XOR_ROWS, model_version="2"))  # cached now
    finally:
        logging.getLogger("gatenet").setLevel("WARNING")
        logging.getLogger("gatenet").handlers[:] = []  # capfd's stderr closes with this test
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line[:1] == "{"]
    infers = [e for e in lines if e["msg"] == "rpc" and e["method"].endswith("/ModelInfer")]
    assert [e["code"] for e in infers] == ["OK", "OK", "NOT_FOUND"]
    assert [e.get("model_id") for e in infers[:2]] == [model_id, model_id]


def test_rows_over_the_limit_are_refused_like_predict(make_server, open_channel):
    srv = make_server(max_predict_rows=4)
    with Client(srv.target, timeout=60) as c:
        model_id = c.train(gate="or", restarts=1, steps=50, early_stop=False).model_id
    stub = v2_grpc.GRPCInferenceServiceStub(open_channel(srv.target))
    assert len(outputs(stub.ModelInfer(infer_request(model_id, XOR_ROWS)))["label"]) == 4
    with expect_status(grpc.StatusCode.INVALID_ARGUMENT, "5 rows", "exceeds the limit 4"):
        stub.ModelInfer(infer_request(model_id, [*XOR_ROWS, [0, 0]]))


def test_work_over_the_bound_is_refused_like_predict(make_server, wide_model_file, open_channel):
    srv = make_server(max_predict_work=1_000_000)  # 240 rows of a 64-64-1 model (4160 a row)
    with Client(srv.target, timeout=60) as c:
        model_id = c.import_model(wide_model_file).model_id
        rows = np.random.default_rng(1).uniform(-2, 2, size=(241, 64)).astype(np.float32)
        expected = c.predict(model_id, rows[:240]).probabilities
    stub = v2_grpc.GRPCInferenceServiceStub(open_channel(srv.target))
    with expect_status(
        grpc.StatusCode.INVALID_ARGUMENT, "inputs[0].shape", "241 rows", "--max-predict-work"
    ):
        stub.ModelInfer(infer_request(model_id, rows))
    got = outputs(stub.ModelInfer(infer_request(model_id, rows[:240])))["probability"]
    np.testing.assert_array_equal(got[:, 0], expected)


# -- same service, same rules: health, auth, metrics, reflection ------------------------------


def test_server_ready_follows_health_and_turns_false_once_draining_begins(
    make_server, open_channel
):
    srv = make_server()
    channel = open_channel(srv.target)
    stub = v2_grpc.GRPCInferenceServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert stub.ServerReady(v2.ServerReadyRequest()).ready
    # What stop() does first; the port stays open here, so the state can be read over the wire.
    srv._loop.run(srv.health.enter_graceful_shutdown())
    assert not stub.ServerReady(v2.ServerReadyRequest()).ready
    assert stub.ServerLive(v2.ServerLiveRequest()).live


def test_v2_calls_need_a_read_token_and_are_counted(make_server, tmp_path, open_channel):
    tokens = tmp_path / "tokens"
    tokens.write_text("reader read\n")
    srv = make_server(tokens_file=str(tokens), auth_token="admin-token")
    with Client(srv.target, timeout=60, token="admin-token") as c:
        model_id = c.train(gate="xor", seed=1).model_id
    stub = v2_grpc.GRPCInferenceServiceStub(open_channel(srv.target))
    with expect_status(grpc.StatusCode.UNAUTHENTICATED, "authorization"):
        stub.ModelInfer(infer_request(model_id, XOR_ROWS))
    reader = (("authorization", "Bearer reader"),)
    response = stub.ModelInfer(infer_request(model_id, XOR_ROWS), metadata=reader)
    assert outputs(response)["label"].ravel().astype(int).tolist() == XOR_LABELS
    with expect_status(grpc.StatusCode.INVALID_ARGUMENT, "inputs[0].shape"):
        stub.ModelInfer(
            _with(infer_request(model_id, XOR_ROWS), input__shape=[2, 4]), metadata=reader
        )

    url = f"http://127.0.0.1:{srv.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def handled(method: str, code: str) -> float:
        labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": method}
        key = ("grpc_server_handled_total", frozenset({**labels, "grpc_code": code}.items()))
        return samples.get(key, -1.0)

    assert handled("ModelInfer", "OK") == 1
    assert handled("ModelInfer", "UNAUTHENTICATED") == 1
    assert handled("ModelInfer", "INVALID_ARGUMENT") == 1
    assert handled("ServerLive", "OK") == 0, "every V2 method's series exists from the start"
    assert samples[("gatenet_predicted_rows_total", frozenset())] >= 4


def test_reflection_and_health_name_the_v2_service(server, open_channel):
    channel = open_channel(server.target)
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    assert SERVICE in {s.name for r in responses for s in r.list_services_response.service}
    status = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE)
    )
    assert status.status == health_pb2.HealthCheckResponse.SERVING


# -- the stock client: tritonclient[grpc] in its own venv ----------------------------------


def _require_tools() -> bool:
    return os.environ.get("GATENET_REQUIRE_TOOLS", "") not in ("", "0")


@pytest.fixture(scope="module")
def triton_python() -> str:
    """The python of the tritonclient venv, made by scripts/ensure-tritonclient.sh if missing."""
    script = REPO / "scripts" / "ensure-tritonclient.sh"
    made = subprocess.run([str(script)], capture_output=True, text=True, timeout=600, cwd=REPO)
    if made.returncode != 0:
        why = f"{script.name} failed ({made.returncode}): {made.stderr.strip()[-2000:]}"
        if _require_tools():
            pytest.fail(f"{why}; GATENET_REQUIRE_TOOLS is set")
        pytest.skip(f"{why}; GATENET_REQUIRE_TOOLS=1 makes this a failure")
    return str(REPO / made.stdout.strip().splitlines()[-1])


def tritonclient(python: str, target: str, calls: list[dict]) -> list[dict]:
    """Run the calls through gatenet_testing/tritonclient_driver.py in the tritonclient venv."""
    driver = Path(gatenet_testing.__file__).with_name("tritonclient_driver.py")
    job = json.dumps({"target": target, "calls": calls})
    done = subprocess.run(
        [python, str(driver)], input=job, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == len(calls)
    return results


@pytest.mark.e2e
def test_tritonclient_predicts_gatenet_models(server, xor, triton_python):
    model_id, name = xor.model_id, xor.name
    table = np.asarray(XOR_ROWS, dtype=np.float32)
    sizes = {1: table[1:2], 4: table, 1024: np.tile(table, (256, 1))}
    calls = {
        "live": {"op": "is_server_live"},
        "ready": {"op": "is_server_ready"},
        "model ready": {"op": "is_model_ready", "model": name},
        "unknown ready": {"op": "is_model_ready", "model": "no-such-model"},
        "server metadata": {"op": "get_server_metadata"},
        "model metadata": {"op": "get_model_metadata", "model": model_id},
        "model config": {"op": "get_model_config", "model": name},
        "index": {"op": "get_model_repository_index"},
        "label only": {"op": "infer", "model": name, "rows": XOR_ROWS, "outputs": ["label"]},
        "INT64": {"op": "infer", "model": name, "rows": XOR_ROWS, "datatype": "INT64"},
        "wrong shape": {"op": "infer", "model": name, "rows": [[0, 1, 1]]},
        "unknown model": {"op": "infer", "model": "no-such-model", "rows": XOR_ROWS},
    }
    for ref in (model_id, name):
        for size, rows in sizes.items():
            calls[f"infer {size} {ref}"] = {
                "op": "infer",
                "model": ref,
                "rows": rows.tolist(),
                "id": "t1",
            }

    answers = tritonclient(triton_python, server.target, list(calls.values()))
    got = dict(zip(calls, answers, strict=True))
    ok = {key: answer.get("ok") for key, answer in got.items()}
    assert [ok["live"], ok["ready"], ok["model ready"], ok["unknown ready"]] == [
        True,
        True,
        True,
        False,
    ]
    assert ok["server metadata"]["name"] == "gatenet" and ok["server metadata"]["version"]
    metadata = ok["model metadata"]
    assert metadata["inputs"] == [{"name": "inputs", "datatype": "FP32", "shape": ["-1", "2"]}]
    assert [(o["name"], o["datatype"], o["shape"]) for o in metadata["outputs"]] == [
        ("probability", "FP32", ["-1", "1"]),
        ("label", "BOOL", ["-1", "1"]),
    ]
    config = ok["model config"]["config"]
    assert config["input"] == [{"name": "inputs", "data_type": "TYPE_FP32", "dims": ["2"]}]
    assert int(config["max_batch_size"]) == server.settings.max_predict_rows
    assert {"name": name, "version": "1", "state": "READY"} in ok["index"]["models"]

    for ref in (model_id, name):
        for size in sizes:
            result = ok[f"infer {size} {ref}"]
            labels = result["outputs"]["label"]
            probabilities = result["outputs"]["probability"]
            assert labels["dtype"] == "bool" and probabilities["dtype"] == "float32"
            expected = XOR_LABELS[1:2] if size == 1 else XOR_LABELS * (size // 4)
            assert [int(v[0]) for v in labels["values"]] == expected
            assert len(probabilities["values"]) == size
            assert result["response"]["id"] == "t1"
            assert result["response"]["model_name"] == ref
    assert list(ok["label only"]["outputs"]) == ["label"]
    assert [int(v[0]) for v in ok["INT64"]["outputs"]["label"]["values"]] == XOR_LABELS

    wrong, missing = got["wrong shape"]["error"], got["unknown model"]["error"]
    assert wrong["code"] == "INVALID_ARGUMENT" and "[1, 3]" in wrong["message"], wrong
    assert missing["code"] == "NOT_FOUND" and "no-such-model" in missing["message"], missing


def _own_types() -> list[str]:
    """Every message (nested ones too) and enum of gatenet's copy of the V2 proto."""
    names: list[str] = []

    def walk(message) -> None:
        names.append(message.full_name)
        for nested in message.nested_types:
            if not nested.GetOptions().map_entry:
                walk(nested)

    for message in v2.DESCRIPTOR.message_types_by_name.values():
        walk(message)
    return names + [e.full_name for e in v2.DESCRIPTOR.enum_types_by_name.values()]


@pytest.mark.e2e
def test_v2_messages_match_tritonclients_field_for_field(server, triton_python):
    """Each field of gatenet's copy has tritonclient's name, number, type and cardinality."""
    names = _own_types()
    theirs = tritonclient(triton_python, server.target, [{"op": "describe", "messages": names}])
    described = theirs[0]["ok"]
    pool = v2.DESCRIPTOR.pool
    enums = {e.full_name for e in v2.DESCRIPTOR.enum_types_by_name.values()}
    for name in names:
        assert isinstance(described[name], dict), described[name]
        if name in enums:
            enum = pool.FindEnumTypeByName(name)
            assert {v.name: v.number for v in enum.values} == described[name]
            continue
        for field in pool.FindMessageTypeByName(name).fields:
            kind = field.message_type or field.enum_type
            mine = [field.number, field.type, field.is_repeated, kind.full_name if kind else ""]
            assert described[name].get(field.name) == mine, f"{name}.{field.name}"


@pytest.mark.e2e
def test_perf_analyzer_runs_against_a_gatenet_model(server, xor, triton_python):
    """perf_analyzer, when PyPI's perf-analyzer gives a binary that runs on this machine."""
    exe = Path(triton_python).parent / "perf_analyzer"
    if not exe.exists():
        libc = os.confstr("CS_GNU_LIBC_VERSION")
        pytest.skip(
            f"no perf_analyzer in {exe.parent}: PyPI's perf-analyzer wheels are manylinux_2_38 "
            f"(glibc >= 2.38) and this system has {libc}"
        )
    # A fixed number of requests: no stabilisation rounds to fail on a busy machine.
    run = subprocess.run(
        [str(exe), "-m", xor.name, "-u", server.target, "-i", "grpc", "-b", "4"]
        + ["--request-count", "2000", "--concurrency-range", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Request count: 2000" in run.stdout, run.stdout[-3000:]
