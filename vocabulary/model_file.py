"""The checksum a model file carries (safetensors metadata, a JSON `checksum` field).

It covers what changes the model's answers (activation, tensor names, shapes and values)
in a canonical form, so the safetensors and JSON files of one model carry the same one,
and a server's export and the client's check or write it alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

PREFIX = "sha256:"


def file_checksum(activation: str, tensors: Mapping[str, np.ndarray]) -> str:
    """sha256:<hex> of activation, then each tensor by name: name, shape, float32 LE bytes."""
    digest = hashlib.sha256(f"gatenet-model-file 1\n{activation}\n".encode())
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name], dtype="<f4")
        digest.update(f"{name}\n{list(value.shape)}\n".encode())
        digest.update(value.tobytes())
    return PREFIX + digest.hexdigest()
