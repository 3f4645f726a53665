"""The Store interface the registry codes against; no backend type leaks through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from .record import EncodedRecord, ModelMeta, ModelRecord, Validator

ErrorHook = Callable[[str, str], None]  # (model_id, reason) for each corrupt record met
FORGET_ALL = ""  # what invalidations() yields when deletes may have been missed (never an id)


class Store(Protocol):
    """A durable home for immutable model records; every I/O method is async."""

    backend: str  # "memory" | "sqlite" | "redis": a bounded metric label

    async def open(self) -> None:
        """Connect, create the schema, take locks; StoreError with one clear line."""

    async def close(self) -> None:
        """Release everything; ends every invalidations() iterator."""

    async def ping(self) -> None:
        """Return if the backend answers; StoreUnavailable otherwise."""

    async def put(self, record: ModelRecord | EncodedRecord) -> None:
        """Write the record durably and atomically; NameTaken if its name is held."""

    async def get(self, model_id: str) -> ModelRecord | None:
        """The record, None if absent; CorruptRecord if it is damaged (checksum, format,
        or the validator)."""

    async def get_meta(self, model_id: str) -> ModelMeta | None:
        """The metadata alone, None if absent; CorruptRecord if it cannot be decoded."""

    async def id_for_name(self, name: str) -> str | None:
        """The id of the model holding name, None if none does."""

    async def delete(self, model_id: str) -> ModelMeta | None:
        """Remove the record and its name, damaged or not; what was removed, None if absent."""

    async def page(
        self, token: str, size: int, name_prefix: str = ""
    ) -> tuple[list[ModelMeta], str]:
        """Up to size metas oldest first after token, and the next token ("" = no more);
        a damaged record's meta has `damage` set."""

    async def count(self) -> int:
        """How many records are stored."""

    async def recent(self, n: int) -> list[ModelRecord]:
        """The newest n decodable records, newest first."""

    def on_error(self, hook: ErrorHook) -> None:
        """Set the hook called for every corrupt record met."""

    def validate_with(self, validator: Validator) -> None:
        """Check every record read with validator too; a ValueError makes it corrupt."""

    def invalidations(self) -> AsyncIterator[str]:
        """Ids of deleted models, for cache eviction, until close() (redis: every replica's);
        FORGET_ALL when some may have been missed."""
