"""A network's parameter names (`layers.N.weight` / `layers.N.bias`) and hidden activations."""

from __future__ import annotations

import re
from collections.abc import Iterable

ACTIVATIONS = ("sigmoid", "tanh", "relu")  # of the hidden layers; the output is a sigmoid
DEFAULT_ACTIVATION = (
    "tanh"  # ACTIVATION_UNSPECIFIED; zero-centred, so Adam's first steps move every unit
)
KINDS = ("weight", "bias")  # weight [fan_in, fan_out] (used as x @ W), bias [fan_out]
_NAME = re.compile(r"layers\.(\d+)\.(weight|bias)")


def weight_name(layer: int) -> str:
    """The weight's name of a layer (0 = the input side)."""
    return f"layers.{layer}.weight"


def bias_name(layer: int) -> str:
    """The bias's name of a layer."""
    return f"layers.{layer}.bias"


def parameter_names(layers: int) -> list[str]:
    """Every parameter's name in the canonical order: layers.0.weight, layers.0.bias, ..."""
    return [f"layers.{i}.{kind}" for i in range(layers) for kind in KINDS]


def parse_name(name: str) -> tuple[int, str] | None:
    """(layer, "weight" | "bias") of a parameter name; None for any other name."""
    match = _NAME.fullmatch(name)
    return None if match is None else (int(match[1]), match[2])


def layer_count(names: Iterable[str]) -> int:
    """How many layers a set of parameter names has weights for."""
    return sum(1 for name in names if name.endswith(".weight"))
