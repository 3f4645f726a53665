"""Durable model records: one Store interface over memory, sqlite and redis backends."""

from __future__ import annotations

from .codec import decode_record, encode_record, encoded
from .errors import (
    CorruptRecord,
    InvalidPageToken,
    NameTaken,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from .factory import open_store
from .protocol import FORGET_ALL, ErrorHook, Store
from .record import EncodedRecord, ModelMeta, ModelRecord, Validator

__all__ = [
    "CorruptRecord",
    "EncodedRecord",
    "ErrorHook",
    "FORGET_ALL",
    "InvalidPageToken",
    "ModelMeta",
    "ModelRecord",
    "NameTaken",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "Validator",
    "decode_record",
    "encode_record",
    "encoded",
    "open_store",
]
