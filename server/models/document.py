"""The stored document's envelope: what a model's record says besides its tensors.

A stored record's document is {"activation", "num_inputs", "info"}, where info is
the model's ModelInfo in the proto3 JSON mapping (a stable, documented format);
its tensors are stored beside it. This module writes those keys and reads them for
the layers above (record_check.py validates them on every read); the store treats
the document as opaque JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from gatenet.server.storage import ModelMeta, ModelRecord
from gatenet.v1 import gatenet_pb2 as pb

# A stored model's metadata (id, name, created_at, this document, damage), as the layers
# above see it: they import it from here, never from storage.
StoredModel = ModelMeta
StoredRecord = ModelRecord


def document(
    info: pb.ModelInfo, activation: str, spec_json: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document stored with a model's tensors.

    `spec_json` is info.spec already in the proto3 JSON mapping (a new model's, built while
    it trained): with it the rest is written field by field, not by json_format, whose
    reflection costs a Train's answer path a few hundred microseconds. Same output either way.
    """
    if spec_json is None:
        as_json = json_format.MessageToDict(info, preserving_proto_field_name=True)
    else:
        scalars = {
            "model_id": info.model_id,
            "name": info.name,
            "num_inputs": info.num_inputs,
            "created_at": info.created_at,
            "imported_from": info.imported_from,
        }
        as_json = {k: v for k, v in scalars.items() if v}  # proto3 JSON leaves defaults out
        as_json |= {"spec": spec_json, "summary": _scalars_json(info.summary)}
        if info.loss_curve:
            as_json["loss_curve"] = [_scalars_json(point) for point in info.loss_curve]
    return {"activation": activation, "num_inputs": info.num_inputs, "info": as_json}


_INT64 = {FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64}


def _scalars_json(message: Any) -> dict[str, Any]:
    """A message of scalar fields in the proto3 JSON mapping, as json_format writes it:
    defaults left out, 64-bit integers as strings, non-finite doubles by name."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if not value and not (isinstance(value, float) and math.isnan(value)):
            continue
        if field.cpp_type in _INT64:
            value = str(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        out[field.name] = value
    return out


def record(
    info: pb.ModelInfo,
    activation: str,
    weights: dict[str, np.ndarray],
    spec_json: dict[str, Any] | None = None,
) -> ModelRecord:
    """The record that stores a model: its info (id, name, created_at included), activation
    and tensors."""
    meta = ModelMeta(
        info.model_id, info.name, info.created_at, document(info, activation, spec_json)
    )
    return ModelRecord(meta, weights)


def model_info(meta: ModelMeta) -> pb.ModelInfo:
    """The ModelInfo a stored document describes (as the record check parsed it, if it did)."""
    if isinstance(meta.parsed, pb.ModelInfo):
        info = pb.ModelInfo()
        info.CopyFrom(meta.parsed)
    else:
        info = json_format.ParseDict(
            meta.document["info"], pb.ModelInfo(), ignore_unknown_fields=True
        )
    info.model_id, info.name, info.created_at = meta.model_id, meta.name, meta.created_at
    return info


def activation(meta: ModelMeta) -> str:
    """The hidden layers' activation the document names."""
    return str(meta.document["activation"])


def info_json(meta: ModelMeta) -> dict[str, Any]:
    """The document's ModelInfo as stored: the proto3 JSON mapping."""
    info: dict[str, Any] = meta.document["info"]
    return info
