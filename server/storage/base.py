"""What every backend shares: encoding, paging, corruption reporting, close semantics.

A backend supplies a few raw primitives over stored text and bytes; this class
turns them into the Store interface, so the three backends cannot drift apart.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import NamedTuple

from ..offload import LARGE_BYTES, run_if
from .codec import decode_meta, decode_record, encode_record
from .errors import CorruptRecord, InvalidPageToken
from .protocol import ErrorHook
from .record import ModelMeta, ModelRecord

TOKEN = re.compile(r"[1-9][0-9]{0,18}")  # a sequence number as issued: ASCII, no sign or zeros
MAX_SEQ = 2**63 - 1  # sqlite INTEGER and redis INCR both stop here


class Row(NamedTuple):
    """One stored record as a backend returns it, undecoded."""

    seq: int
    model_id: str
    meta: str | bytes | None  # None: vanished between listing and reading
    tensors: bytes | None  # None unless asked for


def _large(*texts: str | bytes | None) -> bool:
    """Whether decoding these stored texts is work for the codec thread (offload.py)."""
    return sum(len(t) for t in texts if t is not None) > LARGE_BYTES


def parse_token(token: str) -> int:
    """The sequence number a page token stands for, 0 for the first page."""
    if token == "":
        return 0
    if not TOKEN.fullmatch(token) or int(token) > MAX_SEQ:
        raise InvalidPageToken(token)
    return int(token)


class BaseStore(ABC):
    """The Store interface over raw primitives each backend implements."""

    backend: str

    def __init__(self) -> None:
        self._hook: ErrorHook | None = None
        self._closed = asyncio.Event()

    def on_error(self, hook: ErrorHook) -> None:
        """Set the hook called with (model_id, reason) for every corrupt record met."""
        self._hook = hook

    def _report(self, exc: CorruptRecord) -> None:
        if self._hook is not None:
            self._hook(exc.model_id, exc.why)

    async def put(self, record: ModelRecord) -> None:
        """Write the record durably and atomically; NameTaken if its name is held."""
        meta_text, blob = await run_if(record.size_bytes > LARGE_BYTES, encode_record, record)
        try:  # both backends store names as UTF-8 keys
            record.meta.name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"model {record.meta.model_id}: name is not valid Unicode") from None
        await self._insert(record.meta, meta_text, blob)

    async def get(self, model_id: str) -> ModelRecord | None:
        """The record, None if absent; CorruptRecord (also reported) if undecodable."""
        row = await self._fetch(model_id, tensors=True)
        if row is None or row.meta is None or row.tensors is None:
            return None
        try:
            large = _large(row.meta, row.tensors)
            return await run_if(large, decode_record, model_id, row.meta, row.tensors)
        except CorruptRecord as exc:
            self._report(exc)
            raise

    async def get_meta(self, model_id: str) -> ModelMeta | None:
        """The metadata, None if absent; CorruptRecord (also reported) if undecodable."""
        row = await self._fetch(model_id, tensors=False)
        if row is None or row.meta is None:
            return None
        try:
            return await run_if(_large(row.meta), decode_meta, model_id, row.meta)
        except CorruptRecord as exc:
            self._report(exc)
            raise

    async def id_for_name(self, name: str) -> str | None:
        """The id of the model holding name; None if none does ("" is never held)."""
        return await self._lookup_name(name) if name else None

    async def delete(self, model_id: str) -> ModelMeta | None:
        """Remove the record and its name; what was removed, None if absent.

        A corrupt record is removed too and reported; its meta is rebuilt from the
        indexed name and created_at with an empty document.
        """
        removed = await self._remove(model_id)
        if removed is None:
            return None
        name, created_at, meta_text = removed
        try:
            return decode_meta(model_id, meta_text)
        except CorruptRecord as exc:
            self._report(exc)
            return ModelMeta(model_id, name, created_at, {})

    async def page(
        self, token: str, size: int, name_prefix: str = ""
    ) -> tuple[list[ModelMeta], str]:
        """Up to size metas oldest first after token, and the next token ("" = no more)."""
        if size < 1:
            raise ValueError(f"page size {size} must be at least 1")
        after = parse_token(token)
        found: list[tuple[int, ModelMeta]] = []
        while len(found) <= size:  # one past size tells whether another page exists
            want = size + 1 - len(found)
            rows = await self._scan(after, want, name_prefix, newest_first=False, tensors=False)
            large = _large(*(row.meta for row in rows))
            decoded = await run_if(large, self._decode_rows, rows)
            for row, meta in zip(rows, decoded, strict=True):
                if meta is not None:
                    found.append((row.seq, meta))
            if len(rows) < want:
                break
            after = rows[-1].seq
        metas = [meta for _, meta in found[:size]]
        return metas, (str(found[size - 1][0]) if len(found) > size else "")

    async def recent(self, n: int) -> list[ModelRecord]:
        """The newest n decodable records, newest first; corrupt ones are reported, skipped."""
        records: list[ModelRecord] = []
        before = 0  # 0: from the newest
        while len(records) < n:
            want = n - len(records)
            rows = await self._scan(before, want, "", newest_first=True, tensors=True)
            for row in rows:
                if row.meta is None or row.tensors is None:
                    continue
                try:
                    records.append(decode_record(row.model_id, row.meta, row.tensors))
                except CorruptRecord as exc:
                    self._report(exc)
            if len(rows) < want:
                break
            before = rows[-1].seq
        return records

    async def count(self) -> int:
        """How many records are stored, corrupt ones included."""
        return await self._count()

    async def invalidations(self) -> AsyncIterator[str]:
        """Ids deleted by other processes: none for a single-process store; ends on close."""
        await self._closed.wait()
        return
        yield  # an async generator that never yields

    def _decode_rows(self, rows: list[Row]) -> list[ModelMeta | None]:
        return [self._decode_listed(row) for row in rows]

    def _decode_listed(self, row: Row) -> ModelMeta | None:
        if row.meta is None:
            return None
        try:
            return decode_meta(row.model_id, row.meta)
        except CorruptRecord as exc:
            self._report(exc)
            return None

    @abstractmethod
    async def _insert(self, meta: ModelMeta, meta_text: str, blob: bytes) -> None:
        """Store one encoded record atomically; NameTaken, or StoreError if the id is held."""

    @abstractmethod
    async def _fetch(self, model_id: str, tensors: bool) -> Row | None:
        """The stored row for model_id, None if absent."""

    @abstractmethod
    async def _lookup_name(self, name: str) -> str | None:
        """The id holding a non-empty name."""

    @abstractmethod
    async def _remove(self, model_id: str) -> tuple[str, float, str | bytes] | None:
        """Delete atomically; (name, created_at, meta text) of what was removed."""

    @abstractmethod
    async def _scan(
        self, bound: int, limit: int, prefix: str, newest_first: bool, tensors: bool
    ) -> list[Row]:
        """Up to limit rows in seq order strictly after (before, if newest_first) bound.

        bound 0 means from the start (or the end); prefix filters names.
        """

    @abstractmethod
    async def _count(self) -> int:
        """How many records are stored."""
