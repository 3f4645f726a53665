"""Model files: the safetensors file GetWeights writes, and the files ImportModel reads.

Tensors travel as safetensors (the stored document's envelope is models/document.py).
Import reads the files GetWeights and `gatenet weights --json` write; nothing is
ever unpickled.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from gatenet.server import json_text
from gatenet.server.errors import DataLoss, InvalidArgument
from gatenet.server.models import document
from gatenet.server.models.compiled import CompiledModel
from gatenet.server.models.document import StoredModel
from gatenet.server.training.spec import Limits
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary import enums
from gatenet.vocabulary.layers import ACTIVATIONS, layer_count, parameter_names, weight_name
from gatenet.vocabulary.model_file import file_checksum

FORMAT = "1"  # gatenet_format in safetensors metadata
_DECODER = json_text.decoder()  # files of ~20 MB are read on the codec thread (offload.py)


def safetensors_file(weights: dict[str, np.ndarray], meta: StoredModel) -> bytes:
    """The model's tensors as a safetensors file whose metadata lets ImportModel rebuild it
    (and check it: the checksum of its activation and tensors)."""
    activation = document.activation(meta)
    return save_safetensors(
        weights,
        metadata={
            "gatenet_format": FORMAT,
            "model_id": meta.model_id,
            "activation": activation,
            "model_info": json_text.dumps(document.info_json(meta)),
            "checksum": file_checksum(activation, weights),
        },
    )


class ImportedFile:
    """A model file's tensors, activation and, when it carries one, its original ModelInfo."""

    def __init__(self, request: pb.ImportModelRequest, limits: Limits) -> None:
        source = request.WhichOneof("source")
        if source == "safetensors":
            tensors, meta = _read_safetensors(request.safetensors)
        elif source == "json":
            tensors, meta = _read_json(request.json)
        else:
            raise InvalidArgument("source", "is missing; send safetensors or json")
        self.field = source
        self.original = _original_info(meta.get("model_info"), source)
        activation = meta.get("activation") or _activation_of(self.original)
        if activation not in ACTIVATIONS:
            raise InvalidArgument(
                source,
                f"activation {str(activation)[:40]!r} is not one of {', '.join(ACTIVATIONS)}",
            )
        self.activation = str(activation)
        _verify(meta.get("checksum"), self.activation, tensors, source)
        self.model_id = str(meta.get("model_id") or "")[:64]
        self.weights = _checked(tensors, source, limits)
        try:
            self.compiled = CompiledModel(self.weights, self.activation)
        except ValueError as exc:
            raise InvalidArgument(source, str(exc)) from None

    def info(self, model_id: str, name: str, created_at: float) -> pb.ModelInfo:
        """The imported model's info: the original's spec and summary when the file had them."""
        info = pb.ModelInfo()
        if self.original is not None:
            info.CopyFrom(self.original)
        info.model_id, info.name, info.created_at = model_id, name, created_at
        info.imported_from = self.model_id
        info.num_inputs = self.compiled.num_inputs
        info.spec.name = name
        network = info.spec.network
        network.hidden_sizes[:] = [n_out for _, n_out in self.compiled.layout.shapes[:-1]]
        network.no_hidden_layers = len(self.compiled.layout.shapes) == 1
        network.activation = enums.enum_value("activation", self.activation)  # type: ignore[assignment]
        return info


def _read_safetensors(data: bytes) -> tuple[dict[str, np.ndarray], Mapping[str, Any]]:
    # The header is 8 bytes of little-endian length, then that much JSON.
    if len(data) < 8:
        raise InvalidArgument("safetensors", f"{len(data)} bytes is not a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    try:
        text = data[8 : 8 + size].decode("utf-8") if size <= len(data) - 8 else None
        header = _DECODER.decode(text) if text is not None else None
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict):
        raise InvalidArgument("safetensors", "is not a safetensors file (its header is not JSON)")
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, ValueError) as exc:
        raise InvalidArgument("safetensors", f"does not load ({str(exc)[:200]})") from None
    metadata = header.get("__metadata__") or {}
    return tensors, metadata if isinstance(metadata, dict) else {}


def _read_json(text: str) -> tuple[dict[str, np.ndarray], Mapping[str, Any]]:
    try:
        doc = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument("json", f"is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tensors"), dict):
        raise InvalidArgument("json", 'needs an object with "tensors": {name: {shape, values}}')
    tensors = {}
    for name, tensor in doc["tensors"].items():
        field = f"json.tensors[{str(name)[:40]!r}]"
        try:
            shape = [int(d) for d in tensor["shape"]]
            values = _float64(tensor["values"])
            with np.errstate(over="ignore"):  # too big for float32: inf, refused below
                tensors[str(name)] = values.astype(np.float32).reshape(shape)
        except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise InvalidArgument(field, f"needs shape and matching values ({exc})") from None
    meta: dict[str, Any] = {
        "model_id": doc.get("model_id"),
        "activation": doc.get("activation"),
        "checksum": doc.get("checksum"),
    }
    if isinstance(doc.get("spec"), dict):
        meta["model_info"] = {"spec": doc["spec"]}
    return tensors, meta


def _verify(checksum: Any, activation: str, tensors: dict[str, np.ndarray], field: str) -> None:
    """DATA_LOSS when the file's checksum does not match what it holds (a file without one,
    such as `gatenet weights --json` prints, is taken as it is)."""
    if checksum is None:
        return
    if not isinstance(checksum, str):
        raise InvalidArgument(field, "checksum must be a string")
    if checksum != file_checksum(activation, tensors):
        raise DataLoss(
            f"{field}: the file's checksum does not match its activation and tensors"
            " (the file is damaged)"
        )


def _float64(values: Any) -> np.ndarray:
    """np.asarray(values, float64), a slice at a time when values is a long list: one C call
    over a million values holds the GIL ~40 ms (json_text.py says why that matters)."""
    if not isinstance(values, list) or len(values) <= json_text.SLICE:
        return np.asarray(values, dtype=np.float64)
    step = json_text.SLICE
    parts = [
        np.asarray(values[i : i + step], dtype=np.float64) for i in range(0, len(values), step)
    ]
    return np.concatenate(parts)


def _original_info(raw: Any, field: str) -> pb.ModelInfo | None:
    if raw is None:
        return None
    try:
        parsed = _DECODER.decode(raw) if isinstance(raw, str) else raw
        return json_format.ParseDict(parsed, pb.ModelInfo(), ignore_unknown_fields=True)
    except (ValueError, TypeError, RecursionError, json_format.ParseError) as exc:
        raise InvalidArgument(field, f"its model_info does not parse ({str(exc)[:200]})") from None


def _activation_of(info: pb.ModelInfo | None) -> str:
    if info is None or not info.spec.network.activation:
        return ""
    return enums.enum_name("activation", info.spec.network.activation)


def _checked(tensors: dict[str, np.ndarray], field: str, limits: Limits) -> dict[str, np.ndarray]:
    """Layer tensors in order, float32, finite, within the parameter limit."""
    layers = layer_count(tensors)
    expected = parameter_names(layers)
    missing = [name for name in expected if name not in tensors]
    extra = sorted(set(tensors) - set(expected))
    if not layers or missing or extra:
        problem = f"missing {missing[:4]}" if missing or not layers else f"unexpected {extra[:4]}"
        raise InvalidArgument(
            field, f"tensors must be layers.0.weight, layers.0.bias, ...; {problem}"
        )
    total = sum(int(tensors[name].size) for name in expected)
    if total > limits.max_parameters:
        raise InvalidArgument(
            field, f"{total} parameters exceeds the limit {limits.max_parameters}"
        )
    out = {}
    for name in expected:
        t = tensors[name]
        if t.dtype != np.float32:
            raise InvalidArgument(field, f"{name} has dtype {t.dtype}; float32 is required")
        if not np.isfinite(t).all():
            raise InvalidArgument(field, f"{name} holds NaN or infinite values")
        out[name] = t
    first = out[weight_name(0)]
    inputs = first.shape[0] if first.ndim == 2 else 0
    if not 1 <= inputs <= limits.max_features:
        raise InvalidArgument(field, f"{inputs} inputs is outside 1..{limits.max_features}")
    return out
