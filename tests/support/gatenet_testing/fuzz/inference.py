"""KServe V2 (inference.GRPCInferenceService) requests for the fuzz, and the judge of their OK
answers. ModelInfer gets the most: rows of every accepted datatype, in contents or raw bytes,
with shapes, datatypes, names and outputs at the edges of what the codec accepts.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable

import numpy as np
from google.protobuf.message import Message

from gatenet.inference import grpc_service_pb2 as v2

SERVICE = "/inference.GRPCInferenceService/"
METHODS = tuple(m.name for m in v2.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods)
LABELS = tuple(f"V2/{m}" for m in METHODS)
DATATYPES = ("FP32", "FP64", "INT32", "INT64", "UINT8", "BOOL", "FP16", "BYTES", "fp32", "")
_CONTENTS = {
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "BOOL": "bool_contents",
}
_EDGE_VALUES = (0.0, 1.0, 0.5, -2.0, 3.4e38, -3.4e38, 1e-45, 1e30, math.nan, math.inf, 1e300)

Ref = Callable[[], str]  # a model reference: kept, disposable, near miss or garbage


def request(rng: random.Random, kept: tuple[tuple[str, int], ...], ref: Ref) -> tuple[str, Message]:
    """(method, request) of one V2 call: ModelInfer most often."""
    method = rng.choices(METHODS, [1 if m != "ModelInfer" else 6 for m in METHODS])[0]
    version = rng.choice(["", "", "1", "2", "01", "x" * 300])
    if method in ("ModelReady", "ModelMetadata", "ModelConfig"):
        message = getattr(v2, f"{method}Request")(name=ref(), version=version)
    elif method == "RepositoryIndex":
        message = v2.RepositoryIndexRequest(
            repository_name=rng.choice(["", "models", "x" * 300]), ready=rng.random() < 0.5
        )
    elif method == "ModelInfer":
        message = infer(rng, kept, ref, version)
    else:
        message = getattr(v2, f"{method}Request")()
    return method, message


def infer(
    rng: random.Random, kept: tuple[tuple[str, int], ...], ref: Ref, version: str
) -> v2.ModelInferRequest:
    """Rows for a kept model (or a garbage reference) at the edges of the codec."""
    name, inputs = rng.choice(kept)
    rows = rng.choice([0, 1, 3, 1024, 65_536 // max(inputs, 1), 65_537])
    rows = min(rows, 400_000 // max(inputs, 1))  # the body stays under the message limit
    width = inputs if rng.random() < 0.85 else rng.choice([inputs + 1, 1, 64])
    datatype = rng.choice(DATATYPES) if rng.random() < 0.3 else "FP32"
    shape = [rows, width]
    roll = rng.random()
    if roll < 0.1:
        shape = rng.choice([[rows * width], [rows, width, 1], [-1, width], [], [2**40, width]])
    request = v2.ModelInferRequest(
        model_name=name if rng.random() < 0.85 else ref(),
        model_version=version,
        id=rng.choice(["", "req-1", "x" * 2000]),
    )
    tensor = request.inputs.add(
        name=rng.choice(["inputs", "inputs", "input", "", "x" * 300]),
        datatype=datatype,
        shape=shape,
    )
    count = rows * width - (1 if rng.random() < 0.05 else 0)
    value = rng.choice(_EDGE_VALUES)
    values = np.full(max(count, 0), value if datatype in ("FP32", "FP64") else 1, dtype=np.float64)
    if rng.random() < 0.5 and count <= 4096:
        values = np.array([rng.choice([0.0, 1.0, value]) for _ in range(count)], dtype=np.float64)
    if datatype in ("FP32", "FP64") and rng.random() < 0.5:
        packing = "<f" if datatype == "FP32" else "<d"
        with np.errstate(over="ignore", invalid="ignore"):
            raw = values.astype(np.dtype(packing)).tobytes()
        request.raw_input_contents.append(raw)
    elif datatype in _CONTENTS:
        field = getattr(tensor.contents, _CONTENTS[datatype])
        if datatype in ("FP32", "FP64"):
            field.extend(values.tolist())
        elif datatype == "BOOL":
            field.extend(bool(v) for v in values)
        else:  # integers, a few of them out of UINT8's range
            head = [rng.choice([0, 1, 255, 256]) for _ in range(min(count, 4096))]
            field.extend(head + [1] * max(0, count - 4096))
    if rng.random() < 0.1:  # a second input: the codec takes exactly one
        request.inputs.add(name="inputs", datatype="FP32", shape=[1, inputs])
    if rng.random() < 0.1:  # contents and raw bytes both
        request.raw_input_contents.append(struct.pack("<f", 1.0) * width)
    if rng.random() < 0.3:
        for output in rng.sample(
            ["probability", "label", "logits", "", "label"], rng.randint(1, 3)
        ):
            request.outputs.add(name=output)
    if rng.random() < 0.1:
        request.parameters["binary_data_output"].bool_param = True
    return request


def judge(label: str, response: bytes) -> str:
    """Why an OK V2 answer is wrong, or ""."""
    if label == "V2/ModelInfer":
        return _judge_infer(v2.ModelInferResponse.FromString(response))
    if label == "V2/ServerLive" and not v2.ServerLiveResponse.FromString(response).live:
        return "ServerLive said not live during the run"
    return ""


def _judge_infer(response: v2.ModelInferResponse) -> str:
    described, raw = response.outputs, response.raw_output_contents
    if len(described) != len(raw) or not described:
        return f"{len(described)} outputs and {len(raw)} raw parts with OK"
    outputs = {o.name: (o, part) for o, part in zip(described, raw, strict=True)}
    probabilities = labels = None
    if "probability" in outputs:
        probabilities = np.frombuffer(outputs["probability"][1], dtype="<f4")
        if not ((probabilities >= 0) & (probabilities <= 1)).all():  # NaN fails this too
            return "a probability outside [0, 1] (or NaN) with OK"
    if "label" in outputs:
        labels = np.frombuffer(outputs["label"][1], dtype=np.uint8)
        if not np.isin(labels, (0, 1)).all():
            return "a label byte other than 0 or 1 with OK"
    if probabilities is not None and labels is not None:
        if len(probabilities) != len(labels) or ((probabilities > 0.5) != labels).any():
            return "labels that disagree with the probabilities"
    for output, raw in outputs.values():
        rows = output.shape[0] if output.shape else -1
        width = 4 if output.datatype == "FP32" else 1
        if list(output.shape) != [rows, 1] or len(raw) != rows * width:
            return f"output {output.name} of shape {list(output.shape)} with {len(raw)} bytes"
    return ""
