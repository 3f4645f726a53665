"""Durable model records behind one async interface (a stand-in until the storage branch lands)."""

from gatenet.server.storage.base import (
    CorruptRecord,
    InvalidPageToken,
    ModelMeta,
    ModelRecord,
    NameTaken,
    Store,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from gatenet.server.storage.memory import MemoryStore


def open_store(url: str, data_dir: str) -> Store:
    """The store a --store value names."""
    if url == "memory":
        return MemoryStore()
    raise ValueError(f"--store {url!r}: allowed: memory")


__all__ = [
    "CorruptRecord",
    "InvalidPageToken",
    "ModelMeta",
    "ModelRecord",
    "NameTaken",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "open_store",
]
