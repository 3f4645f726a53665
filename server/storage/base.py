"""Records and the store interface (stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class StoreError(Exception):
    """A store failure."""


class StoreUnavailable(StoreError):
    """The backend does not answer."""


class CorruptRecord(StoreError):
    """A stored record cannot be read."""

    def __init__(self, model_id: str, why: str) -> None:
        self.model_id = model_id
        super().__init__(f"model {model_id!r}: its stored record is unreadable ({why})")


class NameTaken(StoreError):
    """Another model holds the name."""


class StoreLocked(StoreError):
    """Another server holds the data dir."""


class InvalidPageToken(StoreError):
    """A page token this store did not issue."""


@dataclass(frozen=True, slots=True)
class ModelMeta:
    model_id: str
    name: str
    created_at: float
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRecord:
    meta: ModelMeta
    tensors: Mapping[str, np.ndarray]

    @property
    def size_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values())


class Store(Protocol):
    backend: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def put(self, record: ModelRecord) -> None: ...
    async def get(self, model_id: str) -> ModelRecord | None: ...
    async def get_meta(self, model_id: str) -> ModelMeta | None: ...
    async def id_for_name(self, name: str) -> str | None: ...
    async def delete(self, model_id: str) -> ModelMeta | None: ...
    async def page(
        self, token: str, size: int, name_prefix: str = ""
    ) -> tuple[list[ModelMeta], str]: ...
    async def count(self) -> int: ...
    async def recent(self, n: int) -> list[ModelRecord]: ...
    def on_error(self, hook: Callable[[str, str], None]) -> None: ...
    def invalidations(self) -> AsyncIterator[str]: ...
