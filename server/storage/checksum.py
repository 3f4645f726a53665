"""Checksums of a stored record's bytes (a model file's: gatenet.vocabulary.model_file).

A record's checksum holds one SHA-256 per half (metadata text, tensor bytes), so a
read of the metadata alone verifies what it read.
"""

from __future__ import annotations

import hashlib
import hmac
import re

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
