"""Drive a V2 server with the real tritonclient[grpc]: JSON calls on stdin, JSON results out.

Runs in the venv scripts/ensure-tritonclient.sh makes (tritonclient needs protobuf < 7,
gatenet >= 7), so it imports nothing from gatenet. Input: {"target": "host:port",
"calls": [{"op": ..., ...}, ...]}; output: one result per call, {"ok": value} or
{"error": {"code": "NOT_FOUND", "message": ...}}.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

_NUMPY = {
    "FP32": np.float32,
    "FP64": np.float64,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "BOOL": np.bool_,
}


def _infer(client: grpcclient.InferenceServerClient, call: dict[str, Any]) -> dict[str, Any]:
    datatype = call.get("datatype", "FP32")
    rows = np.asarray(call["rows"], dtype=_NUMPY[datatype])
    shape = call.get("shape", list(rows.shape))
    tensor = grpcclient.InferInput(call.get("input", "inputs"), shape, datatype)
    tensor.set_data_from_numpy(rows)
    wanted = call.get("outputs")
    outputs = [grpcclient.InferRequestedOutput(n) for n in wanted] if wanted else None
    result = client.infer(
        call["model"],
        [tensor],
        model_version=call.get("version", ""),
        outputs=outputs,
        request_id=call.get("id", ""),
    )
    response = result.get_response(as_json=True)
    values = {}
    for output in response.get("outputs", []):
        array = result.as_numpy(output["name"])
        values[output["name"]] = {"dtype": str(array.dtype), "values": array.tolist()}
    return {"response": response, "outputs": values}


def _describe(names: list[str]) -> dict[str, Any]:
    """tritonclient's own wire description of these messages and enums: fields by number."""
    from tritonclient.grpc import model_config_pb2, service_pb2

    described: dict[str, Any] = {}
    for name in names:
        short = name.removeprefix("inference.")
        for module in (service_pb2, model_config_pb2):
            pool = module.DESCRIPTOR.pool
            try:
                message = pool.FindMessageTypeByName(name)
            except KeyError:
                try:
                    enum = pool.FindEnumTypeByName(name)
                except KeyError:
                    continue
                described[name] = {v.name: v.number for v in enum.values}
                break
            described[name] = {
                f.name: [f.number, f.type, f.is_repeated, _type_name(f)] for f in message.fields
            }
            break
        else:
            described[name] = f"{short} is not in tritonclient"
    return described


def _type_name(field: Any) -> str:
    kind = field.message_type or field.enum_type
    return kind.full_name if kind else ""


def _call(client: grpcclient.InferenceServerClient, call: dict[str, Any]) -> Any:
    op = call["op"]
    if op == "is_server_live":
        return client.is_server_live()
    if op == "is_server_ready":
        return client.is_server_ready()
    if op == "is_model_ready":
        return client.is_model_ready(call["model"], call.get("version", ""))
    if op == "get_server_metadata":
        return client.get_server_metadata(as_json=True)
    if op == "get_model_metadata":
        return client.get_model_metadata(call["model"], call.get("version", ""), as_json=True)
    if op == "get_model_config":
        return client.get_model_config(call["model"], call.get("version", ""), as_json=True)
    if op == "describe":
        return _describe(call["messages"])
    if op == "get_model_repository_index":
        return client.get_model_repository_index(as_json=True)
    if op == "infer":
        return _infer(client, call)
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    job = json.load(sys.stdin)
    results = []
    with grpcclient.InferenceServerClient(job["target"]) as client:
        for call in job["calls"]:
            try:
                results.append({"ok": _call(client, call)})
            except InferenceServerException as exc:
                code = (exc.status() or "").removeprefix("StatusCode.")
                results.append({"error": {"code": code, "message": exc.message()}})
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
