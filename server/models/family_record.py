"""A family's stored record, and its members as models.

A family is one record (one transaction, however many functions): its document is
{"kind": "family", "activation", "num_inputs", "info"} where info is a ModelInfo whose
`family` holds the capacity table (members left out) and whose spec is the shared recipe.
Its tensors hold every function's number, smallest width (-1 = none) and margin, and, per
width w, the fitted members' positions `w{w}.index` and their stacked networks
`w{w}.layers.{i}.weight` [k, in, out] / `.bias` [k, out]. A member FAMILY/TABLE is served by
slicing its network out; old model records are untouched (they carry no "kind").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format

from gatenet.server.errors import InvalidArgument, NotFound, clip
from gatenet.server.models import document
from gatenet.server.storage import ModelMeta, ModelRecord
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.plan import NO_WIDTH, FamilyResult
from gatenet.server.training.shapes import layer_shapes
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary.layers import ACTIVATIONS, bias_name, weight_name

KIND = "family"
_WIDTH_TENSOR = re.compile(r"w(\d+)\.(index|layers\.(\d+)\.(weight|bias))")
_WHY = 120


def is_family(meta: ModelMeta) -> bool:
    """Whether a stored record is a family (a model's document has no "kind")."""
    return meta.document.get("kind") == KIND


def record(info: pb.ModelInfo, activation: str, result: FamilyResult) -> ModelRecord:
    """The one record that stores a trained family (info.family set, members left out)."""
    tensors: dict[str, np.ndarray] = {
        "numbers": tbl.numbers(result.tables).astype(np.float32),  # < 2^16: exact in float32
        "width": result.width.astype(np.float32),
        "margin": result.margin.astype(np.float32),
    }
    for width, members in sorted(result.members.items()):
        tensors[f"w{width}.index"] = members.index.astype(np.float32)
        for name, value in members.weights.items():
            tensors[f"w{width}.{name}"] = np.ascontiguousarray(value, dtype=np.float32)
    doc = {
        "kind": KIND,
        "activation": activation,
        "num_inputs": info.num_inputs,
        "info": json_format.MessageToDict(info, preserving_proto_field_name=True),
    }
    return ModelRecord(ModelMeta(info.model_id, info.name, info.created_at, doc), tensors)


def check(meta: ModelMeta, tensors: Mapping[str, np.ndarray] | None) -> pb.ModelInfo:
    """The family's ModelInfo; ValueError saying what in the record does not fit."""
    doc = meta.document
    activation, n, raw = doc.get("activation"), doc.get("num_inputs"), doc.get("info")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {str(activation)[:40]!r}")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= tbl.MAX_FAMILY_INPUTS:
        raise ValueError(f"num_inputs {str(n)[:40]!r} is not 1..{tbl.MAX_FAMILY_INPUTS}")
    if not isinstance(raw, dict):
        raise ValueError("info is not a JSON object")
    try:
        info = json_format.ParseDict(raw, pb.ModelInfo())
    except (json_format.ParseError, TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"info does not parse ({str(exc)[:_WHY]})") from None
    if info.model_id not in ("", meta.model_id) or info.num_inputs != n:
        raise ValueError("info belongs to another family")
    if tensors is not None:
        _check_tensors(tensors, n, info.family.functions)
    return info


def _check_tensors(tensors: Mapping[str, np.ndarray], n: int, functions: int) -> None:
    for key in ("numbers", "width", "margin"):
        if key not in tensors or tensors[key].shape != (functions,):
            raise ValueError(f"tensor {key!r} is missing or not [{functions}]")
    numbers = tensors["numbers"]
    if ((numbers < 0) | (numbers >= 2 ** (1 << n)) | (numbers != np.round(numbers))).any():
        raise ValueError(f"numbers are not functions of {n} inputs")
    widths: dict[int, set[str]] = {}
    for name in tensors:
        if name in ("numbers", "width", "margin"):
            continue
        match = _WIDTH_TENSOR.fullmatch(name)
        if match is None:
            raise ValueError(f"unexpected tensor {clip(name)!r}")
        widths.setdefault(int(match[1]), set()).add(name.split(".", 1)[1])
    for width, names in widths.items():
        index = tensors[f"w{width}.index"] if "index" in names else None
        if index is None or index.ndim != 1:
            raise ValueError(f"width {width}: its index is missing")
        k = len(index)
        if ((index < 0) | (index >= functions)).any():
            raise ValueError(f"width {width}: an index is outside 0..{functions - 1}")
        shapes = layer_shapes(n, (width,) if width else ())
        expected = {"index"} | {
            name for i in range(len(shapes)) for name in (weight_name(i), bias_name(i))
        }
        if names != expected:
            raise ValueError(f"width {width}: tensors {sorted(names)[:6]} are not a network")
        for i, (fi, fo) in enumerate(shapes):
            w = tensors[f"w{width}.{weight_name(i)}"]
            b = tensors[f"w{width}.{bias_name(i)}"]
            if w.shape != (k, fi, fo) or b.shape != (k, fo):
                raise ValueError(f"width {width}: layer {i} is not [{k}, {fi}, {fo}]")


def member(
    meta: ModelMeta, tensors: Mapping[str, np.ndarray], table_ref: str
) -> tuple[ModelMeta, dict[str, np.ndarray]]:
    """A member's model (its metadata as a model's, and its network) from the family's record."""
    info = document.model_info(meta)
    n = info.num_inputs
    table = tbl.parse(table_ref, n, "model")
    number = int(tbl.numbers(table[None])[0])
    where = np.flatnonzero(tensors["numbers"] == number)
    family = meta.name
    if not len(where):
        raise NotFound(f"model: family {clip(family)!r} has no function {clip(table_ref)!r}")
    position = int(where[0])
    width = int(tensors["width"][position])
    if width == NO_WIDTH:
        raise InvalidArgument(
            "model", f"{clip(family)}/{tbl.text(table)} did not fit at any width of its family"
        )
    slot = int(np.flatnonzero(tensors[f"w{width}.index"] == position)[0])
    prefix = f"w{width}."
    weights = {
        name.removeprefix(prefix): np.array(value[slot], dtype=np.float32)
        for name, value in tensors.items()
        if name.startswith(prefix) and name != f"{prefix}index"
    }
    spec = pb.TrainRequest()
    spec.CopyFrom(info.spec)
    spec.truth_table.num_inputs = n
    spec.truth_table.outputs[:] = [int(v) for v in table]
    spec.network.ClearField("hidden_sizes")
    if width:
        spec.network.hidden_sizes.append(width)
    spec.network.no_hidden_layers = not width
    spec.name = f"{family}/{tbl.text(table)}"
    margin = float(tensors["margin"][position])
    model = pb.ModelInfo(
        model_id=f"{meta.model_id}/{tbl.bits(table)}",
        name=spec.name,
        spec=spec,
        summary=pb.TrainSummary(fit=True, accuracy=1.0, margin_reached=margin),
        num_inputs=n,
        created_at=meta.created_at,
    )
    activation = str(meta.document["activation"])
    as_json = json_format.MessageToDict(model, preserving_proto_field_name=True)
    doc: dict[str, Any] = {"activation": activation, "num_inputs": n, "info": as_json}
    return ModelMeta(model.model_id, model.name, meta.created_at, doc, parsed=model), weights


def family_info(record: ModelRecord) -> pb.FamilyInfo:
    """The stored family's capacity table with every member's row, in its request's order."""
    info = pb.FamilyInfo()
    info.CopyFrom(document.model_info(record.meta).family)
    n = int(record.meta.document["num_inputs"])
    numbers = record.tensors["numbers"].astype(np.int64)
    tables = ((numbers[:, None] >> np.arange((1 << n) - 1, -1, -1)[None, :]) & 1).astype(np.uint8)
    widths = record.tensors["width"].astype(np.int64).tolist()
    margins = np.round(record.tensors["margin"].astype(np.float64), 6).tolist()
    for table, width, margin in zip(tbl.bits_each(tables), widths, margins, strict=True):
        member = info.members.add(table=table, margin=margin)
        if width != NO_WIDTH:
            member.width = width
    return info
