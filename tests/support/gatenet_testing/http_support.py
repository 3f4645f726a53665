"""For the HTTP port's tests: an XOR model to import (no training to wait for) and a small
HTTP client on the standard library that returns any status rather than raising it."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any, NamedTuple

import numpy as np
from safetensors.numpy import save as save_safetensors

XOR_ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_LABELS = [False, True, True, False]


def xor_model_file() -> bytes:
    """A 2-2-1 tanh network that computes XOR, as a safetensors file."""
    k = 8.0
    tensors = {
        "layers.0.weight": np.array([[k, k], [k, k]], np.float32),
        "layers.0.bias": np.array([-0.5 * k, -1.5 * k], np.float32),
        "layers.1.weight": np.array([[k], [-k]], np.float32),
        "layers.1.bias": np.array([-k], np.float32),
    }
    return save_safetensors(tensors, metadata={"activation": "tanh"})


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "",
    context: ssl.SSLContext | None = None,
) -> Reply:
    """One HTTP request; any status comes back as a Reply (never raised)."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method or None)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as answer:
            return Reply(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers), err.read())


def infer_body(rows: Any, datatype: str = "FP32", **fields: Any) -> bytes:
    """A V2 REST infer body with `rows` as the one `inputs` tensor's JSON data."""
    shape = list(np.asarray(rows).shape)
    tensor = {"name": "inputs", "datatype": datatype, "shape": shape, "data": rows}
    return json.dumps({"inputs": [tensor], **fields}).encode()
