"""Checksums: of a stored record's bytes, and of the tensors a model file carries.

A record's checksum holds one SHA-256 per half (metadata text, tensor bytes), so a
read of the metadata alone verifies what it read. A file's checksum covers what
changes its answers (activation, tensor names, shapes and values) in a canonical
form, so the safetensors and JSON files of one model carry the same one; the
client computes it the same way (client/model_files.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

import numpy as np

from .errors import CorruptRecord

PREFIX = "sha256:"
_RECORD = re.compile(r"sha256:([0-9a-f]{64}):([0-9a-f]{64})")


def _hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def record_checksum(meta_text: str | bytes, blob: bytes) -> str:
    """The checksum stored with a record: sha256:<metadata digest>:<tensors digest>."""
    return f"{PREFIX}{_hex(meta_text)}:{_hex(blob)}"


def verify_record(
    model_id: str, checksum: str | bytes, meta_text: str | bytes, blob: bytes | None
) -> None:
    """CorruptRecord unless the stored bytes (the tensors too, when read) match the checksum."""
    text = checksum.decode("ascii", "replace") if isinstance(checksum, bytes) else checksum
    parts = _RECORD.fullmatch(text)
    if parts is None:
        raise CorruptRecord(model_id, "its checksum is malformed")
    if not hmac.compare_digest(parts[1], _hex(meta_text)):
        raise CorruptRecord(model_id, "metadata does not match its checksum")
    if blob is not None and not hmac.compare_digest(parts[2], _hex(blob)):
        raise CorruptRecord(model_id, "tensors do not match their checksum")


def file_checksum(activation: str, tensors: Mapping[str, np.ndarray]) -> str:
    """sha256:<hex> of activation, then each tensor by name: name, shape, float32 LE bytes."""
    digest = hashlib.sha256(f"gatenet-model-file 1\n{activation}\n".encode())
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name], dtype="<f4")
        digest.update(f"{name}\n{list(value.shape)}\n".encode())
        digest.update(value.tobytes())
    return PREFIX + digest.hexdigest()
