"""A model's layers and hidden activation, read from its named tensors and resolved spec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "relu")
DEFAULT_ACTIVATION = "tanh"  # the proto's ACTIVATION_UNSPECIFIED, for a spec that omits it
_NAME = re.compile(r"layers\.(\d+)\.(weight|bias)")

Layer = tuple[np.ndarray, np.ndarray | None]  # weight [fan_in, fan_out] (x @ W), bias or None


def layers(tensors: Mapping[str, np.ndarray]) -> list[Layer]:
    """The (weight, bias) of each layer, input side first; ValueError on other names or gaps."""
    found: dict[int, dict[str, np.ndarray]] = {}
    for name, array in tensors.items():
        match = _NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"unexpected tensor name {name!r}")
        found.setdefault(int(match[1]), {})[match[2]] = np.asarray(array, dtype=np.float32)
    if not found or sorted(found) != list(range(len(found))):
        raise ValueError(f"layers must be numbered 0..n-1, got {sorted(found)}")
    out: list[Layer] = []
    for i in range(len(found)):
        if "weight" not in found[i]:
            raise ValueError(f"layers.{i}.weight is missing")
        out.append((found[i]["weight"], found[i].get("bias")))
    return out


def activation(spec: Mapping[str, Any]) -> str:
    """The hidden activation's short name ("tanh") from a resolved spec dict."""
    name = str(spec.get("network", {}).get("activation", DEFAULT_ACTIVATION))
    key = name.removeprefix("ACTIVATION_").lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one of {', '.join(ACTIVATIONS)}")
    return key
