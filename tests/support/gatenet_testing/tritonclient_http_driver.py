"""Drive gatenet's V2 REST port with the real tritonclient[http]: JSON calls on stdin, JSON out.

Runs in the venv scripts/ensure-tritonclient.sh makes, so it imports nothing from gatenet.
Input: {"url": "host:port", "token": ..., "calls": [{"op": ..., ...}, ...]}; output: one result
per call, {"ok": value} or {"error": {"status": "404", "message": ...}}. An infer call's
"binary": false sends inputs and asks outputs as JSON data (binary_data=False), else the
client's defaults (binary both ways).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

_NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BOOL": np.bool_}


def _infer(client: httpclient.InferenceServerClient, call: dict[str, Any], headers: Any) -> Any:
    datatype = call.get("datatype", "FP32")
    rows = np.asarray(call["rows"], dtype=_NUMPY[datatype])
    tensor = httpclient.InferInput("inputs", list(rows.shape), datatype)
    binary = call.get("binary", True)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = None  # the defaults: every output, binary
    if not binary or "outputs" in call:
        names = call.get("outputs", ["probability", "label"])
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]
    result = client.infer(
        call["model"],
        [tensor],
        model_version=call.get("version", ""),
        outputs=outputs,
        request_id=call.get("id", ""),
        headers=headers,
    )
    response = result.get_response()
    values = {}
    for output in response.get("outputs", []):
        array = result.as_numpy(output["name"])
        values[output["name"]] = {"dtype": str(array.dtype), "values": array.tolist()}
    return {"response": response, "outputs": values}


def _call(client: httpclient.InferenceServerClient, call: dict[str, Any], headers: Any) -> Any:
    op = call["op"]
    if op == "is_server_live":
        return client.is_server_live(headers=headers)
    if op == "is_server_ready":
        return client.is_server_ready(headers=headers)
    if op == "is_model_ready":
        return client.is_model_ready(call["model"], call.get("version", ""), headers=headers)
    if op == "get_server_metadata":
        return client.get_server_metadata(headers=headers)
    if op == "get_model_metadata":
        return client.get_model_metadata(call["model"], call.get("version", ""), headers=headers)
    if op == "infer":
        return _infer(client, call, headers)
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    job = json.load(sys.stdin)
    token = job.get("token")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    results = []
    client = httpclient.InferenceServerClient(job["url"], concurrency=1)
    try:
        for call in job["calls"]:
            try:
                results.append({"ok": _call(client, call, headers)})
            except InferenceServerException as exc:
                results.append({"error": {"status": exc.status(), "message": exc.message()}})
    finally:
        client.close()
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
