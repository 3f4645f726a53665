"""The one check of a stored model record's content, run by the store on every read.

The store verifies the bytes (checksum) and the envelope (JSON, safetensors, float32);
this checks what they say: the document's fields, types and enums (the ModelInfo in
the proto3 JSON mapping, parsed strictly), and the tensors' names and shapes against
its network. A record that passes compiles and serves; one that fails is corrupt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format

from gatenet.server.models import family_record
from gatenet.server.storage import ModelMeta
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary import enums
from gatenet.vocabulary.layers import (
    ACTIVATIONS,
    bias_name,
    layer_count,
    parameter_names,
    weight_name,
)

_WHY = 120  # characters of a parser's message a reason repeats


def check_record(meta: ModelMeta, tensors: Mapping[str, np.ndarray] | None) -> pb.ModelInfo:
    """The document's ModelInfo; ValueError saying what in the record does not fit (the
    tensors are checked when given)."""
    if family_record.is_family(meta):
        return family_record.check(meta, tensors)
    info, num_inputs = _document(meta)
    if tensors is not None:
        _tensors(tensors, num_inputs, info.spec.network)
    return info


def _document(meta: ModelMeta) -> tuple[pb.ModelInfo, int]:
    doc = meta.document
    activation, num_inputs, raw = doc.get("activation"), doc.get("num_inputs"), doc.get("info")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {str(activation)[:40]!r}")
    if isinstance(num_inputs, bool) or not isinstance(num_inputs, int) or num_inputs < 1:
        raise ValueError(f"num_inputs {str(num_inputs)[:40]!r} is not a positive integer")
    if not isinstance(raw, dict):
        raise ValueError("info is not a JSON object")
    try:
        info = json_format.ParseDict(raw, pb.ModelInfo())
    except (json_format.ParseError, TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"info does not parse ({str(exc)[:_WHY]})") from None
    if info.model_id not in ("", meta.model_id):
        raise ValueError("info belongs to another model id")
    if info.num_inputs != num_inputs:
        raise ValueError(f"info.num_inputs {info.num_inputs} is not num_inputs {num_inputs}")
    network = info.spec.network
    if network.activation and pb.Activation.Name(network.activation) != enums.full_name(
        "activation", activation
    ):
        raise ValueError(
            f"info's network activation {pb.Activation.Name(network.activation)}"
            f" is not {activation!r}"
        )
    return info, num_inputs


def _tensors(tensors: Mapping[str, np.ndarray], num_inputs: int, network: pb.Network) -> None:
    layers = layer_count(tensors)
    if not layers or set(tensors) != set(parameter_names(layers)):
        found = sorted(tensors)[:6]
        raise ValueError(f"tensors must be layers.0.weight, layers.0.bias, ...; found {found}")
    width = num_inputs
    for i in range(layers):
        w, b = tensors[weight_name(i)], tensors[bias_name(i)]
        if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
            raise ValueError(
                f"layer {i}: weight {_shape(w)} and bias {_shape(b)} do not follow {width} inputs"
            )
        width = int(w.shape[1])
    if width != 1:
        raise ValueError(f"the output layer has {width} units; a model has 1")
    hidden = [int(tensors[weight_name(i)].shape[1]) for i in range(layers - 1)]
    declared: list[int] | None = list(network.hidden_sizes) or None
    if network.no_hidden_layers:
        declared = []
    if declared is not None and declared != hidden:
        raise ValueError(f"tensors have hidden layers {hidden}; the network says {declared}")


def _shape(value: Any) -> list[int]:
    return [int(n) for n in np.shape(value)]
