"""What every backend shares: encoding, checksums, validation, paging, corruption reporting.

A backend supplies a few raw primitives over stored text and bytes; this class
turns them into the Store interface, so the three backends cannot drift apart.
Every read goes through _decode: the checksum, the envelope, then the validator
the models layer set, so a damaged record is CorruptRecord wherever it is met.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import NamedTuple

from .. import json_text
from ..offload import LARGE_BYTES, LARGE_VALUES, run_if
from .checksum import verify_record
from .codec import decode_meta, decode_tensors, encode_record, encoded
from .errors import CorruptRecord, InvalidPageToken
from .protocol import ErrorHook
from .record import EncodedRecord, ModelMeta, ModelRecord, Validator

TOKEN = re.compile(r"[1-9][0-9]{0,18}")  # a sequence number as issued: ASCII, no sign or zeros
MAX_SEQ = 2**63 - 1  # sqlite INTEGER and redis INCR both stop here


class Row(NamedTuple):
    """One stored record as a backend returns it, undecoded."""

    seq: int
    model_id: str
    meta: str | bytes | None  # None: vanished between listing and reading
    tensors: bytes | None  # None unless asked for
    name: str  # the name as indexed, readable even when meta is not
    created_at: float
    checksum: str | bytes | None  # None: written before records carried one (not verified)


def _large(*texts: str | bytes | None) -> bool:
    """Whether decoding these stored texts is work for the codec thread (offload.py)."""
    return sum(len(t) for t in texts if t is not None) > LARGE_BYTES


def _large_record(record: ModelRecord) -> bool:
    """Whether encoding the record is work for the codec thread: its tensor bytes and its
    document's values (counted only up to the limit, not encoded), each a share of its limit."""
    tensor_bytes = sum(int(t.nbytes) for t in record.tensors.values())
    values = json_text.values(record.meta.document, LARGE_VALUES)
    return tensor_bytes / LARGE_BYTES + values / LARGE_VALUES > 1


def _encode(record: ModelRecord) -> EncodedRecord:
    """The stored texts of a record and their checksum (large ones on the codec thread)."""
    meta_text, blob = encode_record(record)
    return encoded(record.meta, meta_text, blob)


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
        self._validator: Validator | None = None
        # Records found damaged by any read here: a listing (which reads no tensors) marks
        # them too. Warm-up reads the newest records whole, so it knows those from the start.
        self._damaged: dict[str, str] = {}
        self._closed = asyncio.Event()

    def on_error(self, hook: ErrorHook) -> None:
        """Set the hook called with (model_id, reason) for every corrupt record met."""
        self._hook = hook

    def validate_with(self, validator: Validator) -> None:
        """Check every record read with validator too (ValueError: the record is corrupt)."""
        self._validator = validator

    def _report(self, exc: CorruptRecord) -> None:
        self._damaged[exc.model_id] = exc.why
        if self._hook is not None:
            self._hook(exc.model_id, exc.why)

    def _decode(self, row: Row, tensors: bool) -> ModelRecord | ModelMeta:
        """The row's record (or meta alone), checked; CorruptRecord, reported, if damaged."""
        assert row.meta is not None and (row.tensors is not None or not tensors)
        try:
            if row.checksum is not None:
                verify_record(row.model_id, row.checksum, row.meta, row.tensors)
            meta = decode_meta(row.model_id, row.meta)
            arrays = decode_tensors(row.model_id, row.tensors) if row.tensors is not None else None
            if self._validator is not None:
                try:
                    meta = dataclasses.replace(meta, parsed=self._validator(meta, arrays))
                except ValueError as exc:
                    raise CorruptRecord(row.model_id, str(exc)[:200]) from None
        except CorruptRecord as exc:
            self._report(exc)
            raise
        return meta if arrays is None else ModelRecord(meta, arrays)

    async def put(self, record: ModelRecord | EncodedRecord) -> None:
        """Write the record durably and atomically; NameTaken if its name is held."""
        if isinstance(record, ModelRecord):
            record = await run_if(_large_record(record), _encode, record)
        try:  # both backends store names as UTF-8 keys
            record.meta.name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"model {record.meta.model_id}: name is not valid Unicode") from None
        await self._insert(record.meta, record.meta_text, record.tensors, record.checksum)

    async def get(self, model_id: str) -> ModelRecord | None:
        """The record, None if absent; CorruptRecord (also reported) if undecodable."""
        row = await self._fetch(model_id, tensors=True)
        if row is None or row.meta is None or row.tensors is None:
            return None
        record = await run_if(_large(row.meta, row.tensors), self._decode, row, True)
        assert isinstance(record, ModelRecord)
        return record

    async def get_meta(self, model_id: str) -> ModelMeta | None:
        """The metadata, None if absent; CorruptRecord (also reported) if undecodable."""
        row = await self._fetch(model_id, tensors=False)
        if row is None or row.meta is None:
            return None
        meta = await run_if(_large(row.meta), self._decode, row, False)
        assert isinstance(meta, ModelMeta)
        return meta

    async def id_for_name(self, name: str) -> str | None:
        """The id of the model holding name; None if none does ("" is never held)."""
        return await self._lookup_name(name) if name else None

    async def delete(self, model_id: str) -> ModelMeta | None:
        """Remove the record and its name; what was removed, None if absent.

        A corrupt record is removed too; its meta is rebuilt from the indexed name and
        created_at with an empty document. Nothing is verified: any record can go.
        """
        removed = await self._remove(model_id)
        self._damaged.pop(model_id, None)
        if removed is None:
            return None
        name, created_at, meta_text = removed
        try:
            return decode_meta(model_id, meta_text)
        except CorruptRecord as exc:
            return ModelMeta(model_id, name, created_at, {}, damage=exc.why)

    async def page(
        self, token: str, size: int, name_prefix: str = ""
    ) -> tuple[list[ModelMeta], str]:
        """Up to size metas oldest first after token, and the next token ("" = no more).

        A damaged record is listed too, marked: its meta holds the indexed name and
        created_at, an empty document and `damage` saying why.
        """
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
                    record = self._decode(row, tensors=True)
                except CorruptRecord:
                    continue  # reported; warming skips it
                assert isinstance(record, ModelRecord)
                records.append(record)
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
            meta = self._decode(row, tensors=False)
        except CorruptRecord as exc:
            return ModelMeta(row.model_id, row.name, row.created_at, {}, damage=exc.why)
        assert isinstance(meta, ModelMeta)
        why = self._damaged.get(row.model_id)
        return (
            meta if why is None else ModelMeta(meta.model_id, meta.name, meta.created_at, {}, why)
        )

    @abstractmethod
    async def _insert(self, meta: ModelMeta, meta_text: str, blob: bytes, checksum: str) -> None:
        """Store one encoded record and its checksum atomically; NameTaken, or StoreError if
        the id is held."""

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
