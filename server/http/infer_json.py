"""ModelInfer over REST: a V2 JSON body (and Triton's binary tensor data) as the InferCall the
gRPC codec (rpc/infer_codec.py) checks and shapes into rows; the answer as JSON (+ binary).

The body is a JSON object, or with `Inference-Header-Content-Length: N` its first N
bytes are, followed by the binary tensors it describes (`parameters.binary_data_size`
per input; outputs sent back that way when asked with `binary_data` per output or
`binary_data_output` for all). Values come as `data`, flat or nested in row-major
order. The checks and messages past the JSON are the gRPC V2 service's: the same
fields (inputs[0].shape, outputs[i].name...), the same bounds.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import orjson

from gatenet.server.errors import InvalidArgument, clip
from gatenet.server.http.plain_infer import plain
from gatenet.server.rpc import infer_codec
from gatenet.server.rpc.infer_codec import DATATYPES, LABEL, OUTPUTS, PROBABILITY, InferCall

HEADER_LENGTH = "Inference-Header-Content-Length"
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER_KINDS = "iu"
_FLOAT = ("FP32", "FP64")
_F4_MAX = float(np.finfo(np.float32).max)
_NONE: frozenset[str] = frozenset()


class _Tensor(NamedTuple):
    """The input tensor's description, as infer_codec.rows reads it."""

    name: str
    datatype: str
    shape: list[int]


class RestCall(NamedTuple):
    """A decoded REST infer request: the gRPC codec's call, and which outputs go binary."""

    call: InferCall
    binary: frozenset[str]  # output names answered as binary tensor data


def decode(body: bytes, header_length: str | None, model: str, version: str) -> RestCall:
    """The request as an InferCall with its tensor's values as raw bytes; InvalidArgument
    names the field (the JSON path) and what is allowed."""
    header, binary = _split(body, header_length)
    request = _object(header)
    if not binary:
        common = plain(request)
        if common is not None:
            request_id, shape, raw = common
            tensor = _Tensor(infer_codec.INPUT, "FP32", shape)
            return RestCall(InferCall(model, version, request_id, tensor, raw, OUTPUTS), _NONE)
    inputs = _field(request, "inputs", list, "a list of one tensor object")
    if len(inputs) != 1:
        raise InvalidArgument(
            "inputs", f"{len(inputs)} tensors given; the model takes one, {infer_codec.INPUT!r}"
        )
    tensor = inputs[0]
    if not isinstance(tensor, dict):
        raise InvalidArgument("inputs[0]", "is not a JSON object")
    name = _field(tensor, "name", str, "a string", "inputs[0].")
    datatype = _field(tensor, "datatype", str, "a string", "inputs[0].")
    shape = _shape(_field(tensor, "shape", list, "a list of integers", "inputs[0]."))
    # The gRPC codec's checks of names, datatype and outputs, with the same messages.
    infer_codec.check_input(name, datatype)
    wanted, binary_out = _outputs(request)
    request_id = _optional(request, "id", str, "a string", "")
    params = _optional(tensor, "parameters", dict, "an object", {}, "inputs[0].")
    size = params.get("binary_data_size")
    if size is not None:
        raw = _binary(size, binary, shape, datatype, tensor)
    else:
        if binary:
            raise InvalidArgument(
                HEADER_LENGTH,
                f"{len(binary)} bytes follow the JSON header, but no input has "
                "parameters.binary_data_size",
            )
        if "data" not in tensor:
            raise InvalidArgument(
                "inputs[0].data", "is missing; send the values as data (or as binary data)"
            )
        raw = _values(tensor["data"], datatype, shape)
    described = _Tensor(name, datatype, shape)
    return RestCall(InferCall(model, version, request_id, described, raw, wanted), binary_out)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise InvalidArgument(
            HEADER_LENGTH,
            f"{clip(header_length)!r} is not a length within the body's {len(body)} bytes",
        )
    return body[:length], body[length:]


def _object(text: bytes) -> dict[str, Any]:
    try:
        # orjson: 2-3x json's speed; it also refuses NaN/Infinity (not JSON) and nesting
        # past 1024 levels.
        request = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument("body", f"is not valid JSON: {clip(str(exc))}") from None
    if not isinstance(request, dict):
        raise InvalidArgument("body", f"is a JSON {_json_type(request)}, not an object")
    return request


def _field(obj: dict[str, Any], key: str, kind: type, what: str, path: str = "") -> Any:
    if key not in obj:
        raise InvalidArgument(path + key, f"is missing; give {what}")
    return _typed(obj[key], kind, what, path + key)


def _optional(
    obj: dict[str, Any], key: str, kind: type, what: str, default: Any, path: str = ""
) -> Any:
    return _typed(obj[key], kind, what, path + key) if key in obj else default


def _typed(value: Any, kind: type, what: str, field: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InvalidArgument(field, f"is a JSON {_json_type(value)}; give {what}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _shape(shape: list[Any]) -> list[int]:
    for i, dim in enumerate(shape):
        if not isinstance(dim, int) or isinstance(dim, bool) or not _INT64[0] <= dim <= _INT64[1]:
            raise InvalidArgument(f"inputs[0].shape[{i}]", f"{clip(repr(dim))} is not an integer")
    return shape


def _outputs(request: dict[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The outputs asked for (checked as the gRPC codec checks them) and the binary ones."""
    params = _optional(request, "parameters", dict, "an object", {})
    every = _flag(params, "binary_data_output", "parameters.", False)
    outputs = _optional(request, "outputs", list, "a list of output objects", [])
    binary = set()
    named: list[tuple[str, bool]] = []
    for i, wanted in enumerate(outputs):
        if not isinstance(wanted, dict):
            raise InvalidArgument(f"outputs[{i}]", "is not a JSON object")
        name = _field(wanted, "name", str, "a string", f"outputs[{i}].")
        out_params = _optional(wanted, "parameters", dict, "an object", {}, f"outputs[{i}].")
        named.append((name, "classification" in out_params))
        if _flag(out_params, "binary_data", f"outputs[{i}].parameters.", every):
            binary.add(name)
    if not outputs and every:
        binary = {PROBABILITY, LABEL}
    return infer_codec.wanted_outputs(named), frozenset(binary)


def _flag(params: dict[str, Any], key: str, path: str, default: bool) -> bool:
    return (
        bool(_typed(params[key], bool, "true or false", path + key)) if key in params else default
    )


def _expected(shape: list[int]) -> int | None:
    """Values a well-formed [rows, n] shape holds (None: the shape check will refuse it)."""
    if len(shape) != 2 or min(shape) < 0:
        return None
    return shape[0] * shape[1]


def _binary(
    size: Any, binary: bytes, shape: list[int], datatype: str, tensor: dict[str, Any]
) -> bytes:
    field = "inputs[0].parameters.binary_data_size"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidArgument(field, f"{clip(repr(size))} is not a byte count")
    if "data" in tensor:
        raise InvalidArgument("inputs[0].data", "given with binary_data_size; send one of them")
    if size != len(binary):
        raise InvalidArgument(
            field, f"{size} bytes, but {len(binary)} bytes follow the JSON header"
        )
    values = _expected(shape)
    itemsize = DATATYPES[datatype].raw.itemsize
    if values is not None and values * itemsize != size:
        raise InvalidArgument(
            field,
            f"{size} bytes for tensor {infer_codec.INPUT!r} {datatype} {shape}; expected "
            f"{values * itemsize} ({values} values of {itemsize} bytes)",
        )
    return binary


def _values(data: Any, datatype: str, shape: list[int]) -> bytes:
    """JSON values (flat or nested) as the datatype's little-endian bytes, as raw tensor data."""
    field = "inputs[0].data"
    if not isinstance(data, list):
        raise InvalidArgument(field, f"is a JSON {_json_type(data)}; give a list of values")
    try:
        # The protocol's nesting is row-major order only (Triton flattens it too); one level
        # at a time is 3x faster than numpy reading nested lists.
        while data and isinstance(data[0], list):
            data = list(chain.from_iterable(data))
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError):  # lists mixed with values
        raise InvalidArgument(field, "mixes lists and values; nest every value as deep") from None
    if array.ndim != 1:
        raise InvalidArgument(field, "mixes lists and values; nest every value as deep")
    if array.size:
        kind = array.dtype.kind
        allowed = (
            "b" if datatype == "BOOL" else _INTEGER_KINDS + ("f" if datatype in _FLOAT else "")
        )
        if kind not in allowed:
            what = (
                "true or false"
                if datatype == "BOOL"
                else "numbers"
                if datatype in _FLOAT
                else "integers"
            )
            raise InvalidArgument(field, f"holds values that are not {what} ({datatype})")
    values = _expected(shape)
    if values is not None and array.size != values:
        raise InvalidArgument(
            field,
            f"{array.size} values for tensor {infer_codec.INPUT!r} {datatype} {shape}; "
            f"expected {values}",
        )
    raw = DATATYPES[datatype].raw
    if array.size and datatype == "FP32" and array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            too_big = np.abs(array) > _F4_MAX
        if too_big.any():
            value = float(array.flat[int(np.argmax(too_big))])
            raise InvalidArgument(field, f"holds {value}, beyond FP32's range")
    if array.size and raw.kind in _INTEGER_KINDS and datatype != "BOOL":
        bounds = np.iinfo(raw)
        low, high = int(array.min()), int(array.max())
        if low < bounds.min or high > bounds.max:
            raise InvalidArgument(
                field, f"holds {low if low < bounds.min else high}, beyond {datatype}'s range"
            )
    return array.astype(raw).tobytes()


def encode(
    call: RestCall, probabilities: np.ndarray, labels: np.ndarray
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary outputs, the length of its JSON header."""
    inner = call.call
    rows = len(labels)
    outputs = []
    tail: list[bytes | memoryview] = []
    for name in inner.outputs:
        values = probabilities if name == PROBABILITY else labels
        out: dict[str, Any] = {
            "name": name,
            "datatype": "FP32" if name == PROBABILITY else "BOOL",
            "shape": [rows, 1],
        }
        if name in call.binary:
            out["parameters"] = {"binary_data_size": values.nbytes}
            tail.append(values.data)
        else:  # orjson writes float32 in its shortest form, and bools as true/false
            out["data"] = values if name == PROBABILITY else values.view(np.bool_)
        outputs.append(out)
    answer: dict[str, Any] = {"model_name": inner.model, "model_version": infer_codec.VERSION}
    if inner.id:
        answer["id"] = inner.id
    answer["outputs"] = outputs
    header = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    if not tail:
        return header, None
    return b"".join([header, *tail]), len(header)
