"""Rebuild a gatenet model as a local torch module; the only client module that imports torch."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from torch import nn

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
_NAME = re.compile(r"layers\.(\d+)\.(weight|bias)")


def _activation(spec: dict[str, Any]) -> type[nn.Module]:
    name = str(spec.get("network", {}).get("activation", "ACTIVATION_TANH"))
    key = name.removeprefix("ACTIVATION_").lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"activation {name!r} has no torch equivalent here")
    return _ACTIVATIONS[key]


def to_sequential(tensors: dict[str, np.ndarray], spec: dict[str, Any]) -> nn.Sequential:
    """Linear + activation per hidden layer, then Linear + Sigmoid, loaded with these weights."""
    layers: dict[int, dict[str, np.ndarray]] = {}
    for name, array in tensors.items():
        match = _NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"unexpected tensor name {name!r}")
        layers.setdefault(int(match[1]), {})[match[2]] = array
    if sorted(layers) != list(range(len(layers))) or not layers:
        raise ValueError(f"layers must be numbered 0..n-1, got {sorted(layers)}")
    activation = _activation(spec)
    modules: list[nn.Module] = []
    for i in range(len(layers)):
        weight = layers[i]["weight"]  # [fan_in, fan_out]: the server computes x @ W
        linear = nn.Linear(weight.shape[0], weight.shape[1], bias="bias" in layers[i])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T)))
            if linear.bias is not None:
                linear.bias.copy_(torch.from_numpy(np.asarray(layers[i]["bias"])))
        modules.append(linear)
        modules.append(activation() if i < len(layers) - 1 else nn.Sigmoid())
    return nn.Sequential(*modules)
