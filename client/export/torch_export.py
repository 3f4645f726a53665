"""Rebuild a gatenet model as a local torch module; the only client module that imports torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers import activation, layers

_MODULES: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def to_sequential(tensors: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> nn.Sequential:
    """Linear + activation per hidden layer, then Linear + Sigmoid, loaded with these weights."""
    hidden = _MODULES[activation(spec)]
    found = layers(tensors)
    modules: list[nn.Module] = []
    for i, (weight, bias) in enumerate(found):
        linear = nn.Linear(weight.shape[0], weight.shape[1], bias=bias is not None)
        with torch.no_grad():  # [fan_in, fan_out]: the server computes x @ W
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T)))
            if linear.bias is not None and bias is not None:
                linear.bias.copy_(torch.from_numpy(bias))
        modules.append(linear)
        modules.append(hidden() if i < len(found) - 1 else nn.Sigmoid())
    return nn.Sequential(*modules)
