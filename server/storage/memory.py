"""The memory store (stand-in)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

from gatenet.server.storage.base import InvalidPageToken, ModelMeta, ModelRecord, NameTaken


class MemoryStore:
    backend = "memory"

    def __init__(self) -> None:
        self._records: dict[str, tuple[int, ModelRecord]] = {}
        self._names: dict[str, str] = {}
        self._seq = itertools.count(1)
        self._closed = asyncio.Event()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self._closed.set()

    async def ping(self) -> None:
        pass

    async def put(self, record: ModelRecord) -> None:
        name = record.meta.name
        if name and name in self._names:
            raise NameTaken(f"name: a model named {name!r} already exists ({self._names[name]})")
        self._records[record.meta.model_id] = (next(self._seq), record)
        if name:
            self._names[name] = record.meta.model_id

    async def get(self, model_id: str) -> ModelRecord | None:
        entry = self._records.get(model_id)
        return entry[1] if entry else None

    async def get_meta(self, model_id: str) -> ModelMeta | None:
        entry = self._records.get(model_id)
        return entry[1].meta if entry else None

    async def id_for_name(self, name: str) -> str | None:
        return self._names.get(name)

    async def delete(self, model_id: str) -> ModelMeta | None:
        entry = self._records.pop(model_id, None)
        if entry is None:
            return None
        if entry[1].meta.name:
            self._names.pop(entry[1].meta.name, None)
        return entry[1].meta

    async def page(
        self, token: str, size: int, name_prefix: str = ""
    ) -> tuple[list[ModelMeta], str]:
        if token and not (token.isascii() and token.isdigit() and len(token) <= 19):
            raise InvalidPageToken(f"page_token: {token[:40]!r} is not a token this server issued")
        after = int(token or 0)
        found = [
            (seq, r.meta)
            for seq, r in self._records.values()
            if seq > after and r.meta.name.startswith(name_prefix)
        ]
        chunk = found[: size + 1]
        more = len(chunk) > size
        return [m for _, m in chunk[:size]], str(chunk[size - 1][0]) if more else ""

    async def count(self) -> int:
        return len(self._records)

    async def recent(self, n: int) -> list[ModelRecord]:
        return [r for _, r in list(self._records.values())[-n:]][::-1]

    def on_error(self, hook: Callable[[str, str], None]) -> None:
        pass

    async def invalidations(self) -> AsyncIterator[str]:
        await self._closed.wait()
        return
        yield
