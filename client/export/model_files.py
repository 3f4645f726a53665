"""The files a model travels in: safetensors (as GetWeights sends it), JSON and ONNX."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from gatenet.vocabulary.model_file import file_checksum

from ..errors import ClientError
from ..results import Weights, json_text

FORMATS = ("safetensors", "json", "onnx")

Source = str | bytes | os.PathLike[str]  # a path, or the file's contents


def format_of(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for by its extension; ValueError when it says none."""
    extension = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if extension not in FORMATS:
        raise ValueError(
            f"cannot tell the format of {os.fspath(path)!r} from its extension;"
            f" give --format {'|'.join(FORMATS)}"
        )
    return extension


def is_safetensors(data: bytes) -> bool:
    """True for a safetensors file: an 8-byte little-endian header length, then a JSON object."""
    if len(data) < 9:
        return False
    header = int.from_bytes(data[:8], "little")
    return 8 + header <= len(data) and data[8:9] == b"{"


def read_source(source: Source) -> bytes:
    """A model file's bytes: source itself (bytes, or a str holding JSON) or the file it names."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return source.encode()
    with open(source, "rb") as f:
        return f.read()


_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}


def _safetensors_parts(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A safetensors file's metadata and float tensors (others are skipped), by its header."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    body = data[8 + size :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry.get("dtype") not in _DTYPES:
            continue
        start, end = entry["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=_DTYPES[entry["dtype"]])
        tensors[name] = array.reshape(entry["shape"])
    return header.get("__metadata__") or {}, tensors


def check_file(data: bytes) -> None:
    """ValueError when a model file's checksum does not match what it holds (a file without
    one is taken as it is; the server checks again, and the rest of the file)."""
    try:
        if is_safetensors(data):
            meta, tensors = _safetensors_parts(data)
        else:
            meta = json.loads(data)
            if "checksum" not in meta:
                return
            tensors = {
                name: np.asarray(t["values"], dtype=np.float32).reshape(t["shape"])
                for name, t in meta["tensors"].items()
            }
        checksum, activation = meta.get("checksum"), meta.get("activation")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return  # not a well-formed file: ImportModel says what is wrong with it
    if checksum is not None and checksum != file_checksum(str(activation), tensors):
        raise ValueError("the file's checksum does not match its tensors: the file is damaged")


def import_payload(source: Source) -> bytes | str:
    """Safetensors bytes, or the JSON text, for ImportModelRequest; ValueError otherwise."""
    data = read_source(source)
    check_file(data)
    if is_safetensors(data):
        return data
    try:
        text = data.decode("utf-8")
        document: Any = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(
            "not a safetensors file nor the JSON `gatenet weights --json` prints"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("tensors"), dict):
        raise ValueError('no "tensors" object: not the JSON `gatenet weights --json` prints')
    return text


def encode(weights: Weights, fmt: str) -> bytes:
    """The bytes of a model file: GetWeights' safetensors blob, weights JSON or an ONNX graph."""
    if fmt == "safetensors":
        if not weights.safetensors:
            raise ClientError("UNIMPLEMENTED", "the server sent no safetensors blob")
        return weights.safetensors
    if fmt == "json":
        document = weights.to_dict()
        document["checksum"] = file_checksum(weights.activation, weights.tensors)
        return (json_text(document) + "\n").encode()
    if fmt == "onnx":
        return bytes(weights.to_onnx().SerializeToString())
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
