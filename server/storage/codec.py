"""The record format every durable backend shares: JSON metadata plus safetensors bytes.

Decoding trusts nothing it reads: whatever does not parse or validate becomes
CorruptRecord, so one damaged record never takes the server down. Never pickle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError

from gatenet.server import json_text

from .checksum import record_checksum
from .errors import CorruptRecord
from .record import EncodedRecord, ModelMeta, ModelRecord

FORMAT = 1  # bump when the JSON layout changes; decoders reject what they don't know
MODEL_ID = re.compile(r"[0-9a-f]{32}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


# One decoder for every record: json.loads with options builds a new one per call.
_DECODER = json_text.decoder(parse_constant=_reject_constant)


def check_model_id(model_id: str) -> None:
    """Raise ValueError unless model_id is 32 lowercase hex characters."""
    if not MODEL_ID.fullmatch(model_id):
        raise ValueError(f"model_id {model_id[:40]!r} is not 32 lowercase hex characters")


def encode_meta(meta: ModelMeta, document_text: str | None = None) -> str:
    """The metadata as the stored JSON text; ValueError if it is not finite, plain JSON.

    `document_text`, when given, is meta.document as json_text.dumps(allow_nan=False) writes
    it, already made (a trained model's, mostly while it trained): it is spliced in, not
    written again. The text is the same either way.
    """
    check_model_id(meta.model_id)
    if not math.isfinite(meta.created_at):
        raise ValueError(f"model {meta.model_id}: created_at is not finite")
    doc = {
        "format": FORMAT,
        "model_id": meta.model_id,
        "name": meta.name,
        "created_at": float(meta.created_at),
        "document": meta.document if document_text is None else 0,
    }
    try:
        # ASCII escapes keep lone surrogates storable; allow_nan=False keeps it strict JSON.
        text = json_text.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"model {meta.model_id}: document is not plain finite JSON ({exc})"
        ) from None
    # "document" is the last member: its placeholder 0 is the text's last character but one.
    return text if document_text is None else f"{text[:-2]}{document_text}}}"


def encode_tensors(model_id: str, tensors: Mapping[str, np.ndarray]) -> bytes:
    """The tensors as safetensors bytes; ValueError unless every one is finite float32."""
    for key, value in tensors.items():
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            raise ValueError(f"model {model_id}: tensor {key!r} is not a float32 array")
        if not np.isfinite(value).all():
            raise ValueError(f"model {model_id}: tensor {key!r} holds NaN or Inf")
    return safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in tensors.items()})


def encode_record(record: ModelRecord) -> tuple[str, bytes]:
    """The record as (meta JSON text, safetensors bytes), validated."""
    meta = encode_meta(record.meta)
    return meta, encode_tensors(record.meta.model_id, record.tensors)


def encoded(meta: ModelMeta, meta_text: str, tensors: bytes) -> EncodedRecord:
    """A record in its stored form, from texts encode_meta and encode_tensors wrote."""
    return EncodedRecord(meta, meta_text, tensors, record_checksum(meta_text, tensors))


def decode_meta(model_id: str, text: str | bytes) -> ModelMeta:
    """The metadata stored under model_id; CorruptRecord if it is not what encode_meta writes."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        doc = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptRecord(model_id, f"metadata is not JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise CorruptRecord(model_id, "metadata is not a JSON object")
    if doc.get("format") != FORMAT:
        raise CorruptRecord(model_id, f"metadata format {str(doc.get('format'))[:20]} unknown")
    name, created_at, document = doc.get("name"), doc.get("created_at"), doc.get("document")
    if doc.get("model_id") != model_id:
        raise CorruptRecord(model_id, "metadata belongs to another model id")
    if not isinstance(name, str):
        raise CorruptRecord(model_id, "metadata name is not a string")
    if isinstance(created_at, bool) or not isinstance(created_at, int | float):
        raise CorruptRecord(model_id, "metadata created_at is not a number")
    if not isinstance(document, dict):
        raise CorruptRecord(model_id, "metadata document is not a JSON object")
    return ModelMeta(model_id, name, float(created_at), document)


def decode_tensors(model_id: str, blob: bytes) -> dict[str, np.ndarray]:
    """The tensors stored under model_id; CorruptRecord unless all are finite float32."""
    try:
        tensors = safetensors.numpy.load(bytes(blob))
    except (SafetensorError, ValueError, TypeError) as exc:
        raise CorruptRecord(model_id, f"tensors are not safetensors: {str(exc)[:80]}") from None
    for key, value in tensors.items():
        if value.dtype != np.float32:
            raise CorruptRecord(model_id, f"tensor {key[:40]!r} is {value.dtype}, not float32")
        if not np.isfinite(value).all():
            raise CorruptRecord(model_id, f"tensor {key[:40]!r} holds NaN or Inf")
    return tensors


def decode_record(model_id: str, meta: str | bytes, blob: bytes) -> ModelRecord:
    """The record stored under model_id; CorruptRecord if either half is damaged."""
    return ModelRecord(decode_meta(model_id, meta), decode_tensors(model_id, blob))
