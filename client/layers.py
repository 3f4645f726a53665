"""A model's layers and hidden activation, read from its named tensors and resolved spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gatenet.vocabulary import enums
from gatenet.vocabulary.layers import ACTIVATIONS, DEFAULT_ACTIVATION, parse_name, weight_name

Layer = tuple[np.ndarray, np.ndarray | None]  # weight [fan_in, fan_out] (x @ W), bias or None


def layers(tensors: Mapping[str, np.ndarray]) -> list[Layer]:
    """The (weight, bias) of each layer, input side first; ValueError on other names or gaps."""
    found: dict[int, dict[str, np.ndarray]] = {}
    for name, array in tensors.items():
        parsed = parse_name(name)
        if parsed is None:
            raise ValueError(f"unexpected tensor name {name!r}")
        layer, kind = parsed
        found.setdefault(layer, {})[kind] = np.asarray(array, dtype=np.float32)
    if not found or sorted(found) != list(range(len(found))):
        raise ValueError(f"layers must be numbered 0..n-1, got {sorted(found)}")
    out: list[Layer] = []
    for i in range(len(found)):
        if "weight" not in found[i]:
            raise ValueError(f"{weight_name(i)} is missing")
        out.append((found[i]["weight"], found[i].get("bias")))
    return out


def activation(spec: Mapping[str, Any]) -> str:
    """The hidden activation's short name ("tanh") from a resolved spec dict."""
    name = str(spec.get("network", {}).get("activation", DEFAULT_ACTIVATION))
    key = enums.short_name("activation", name)
    if key not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one of {', '.join(ACTIVATIONS)}")
    return key
