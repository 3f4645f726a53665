"""The in-process store: dicts of encoded records, for tests and ephemeral use.

It keeps records encoded, exactly as the durable backends do, so it rejects the
same inputs and reports the same corruption; nothing survives the process.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from .base import BaseStore, Row
from .errors import NameTaken, StoreError, StoreUnavailable
from .record import ModelMeta


class _Stored(NamedTuple):
    seq: int
    name: str
    created_at: float
    meta: str | bytes
    tensors: bytes
    checksum: str | None


class MemoryStore(BaseStore):
    """A Store held in this process's memory."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, _Stored] = {}
        self._names: dict[str, str] = {}
        self._order: list[tuple[int, str]] = []  # (seq, id) ascending; deleted ones pruned lazily
        self._stale = 0
        self._seq = 0

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Drop every record and end invalidations() iterators."""
        self._closed.set()
        self._rows.clear()
        self._names.clear()
        self._order.clear()

    async def ping(self) -> None:
        """Answer unless closed."""
        self._check_open()

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise StoreUnavailable("memory", "this process", "store closed")

    async def _insert(self, meta: ModelMeta, meta_text: str, blob: bytes, checksum: str) -> None:
        self._check_open()
        held = self._rows.get(meta.model_id)
        if held is not None:
            if held.meta == meta_text and held.tensors == blob:
                return  # a retried put of the same record
            raise StoreError(f"model {meta.model_id} is already stored; models are immutable")
        if meta.name and meta.name in self._names:
            raise NameTaken(meta.name, self._names[meta.name])
        self._seq += 1
        self._rows[meta.model_id] = _Stored(
            self._seq, meta.name, meta.created_at, meta_text, blob, checksum
        )
        self._order.append((self._seq, meta.model_id))
        if meta.name:
            self._names[meta.name] = meta.model_id

    async def _fetch(self, model_id: str, tensors: bool) -> Row | None:
        self._check_open()
        held = self._rows.get(model_id)
        return None if held is None else self._row(model_id, held, tensors)

    @staticmethod
    def _row(model_id: str, held: _Stored, tensors: bool) -> Row:
        return Row(
            held.seq,
            model_id,
            held.meta,
            held.tensors if tensors else None,
            held.name,
            held.created_at,
            held.checksum,
        )

    async def _lookup_name(self, name: str) -> str | None:
        self._check_open()
        return self._names.get(name)

    async def _remove(self, model_id: str) -> tuple[str, float, str | bytes] | None:
        self._check_open()
        held = self._rows.pop(model_id, None)
        if held is None:
            return None
        if held.name and self._names.get(held.name) == model_id:
            del self._names[held.name]
        self._stale += 1
        if self._stale > len(self._order) // 2:  # prune so scans stay proportional to live rows
            self._order = [(seq, mid) for seq, mid in self._order if mid in self._rows]
            self._stale = 0
        return held.name, held.created_at, held.meta

    async def _scan(
        self, bound: int, limit: int, prefix: str, newest_first: bool, tensors: bool
    ) -> list[Row]:
        self._check_open()
        if newest_first:
            end = len(self._order) if bound == 0 else bisect.bisect_left(self._order, (bound, ""))
            candidates = (self._order[i] for i in range(end - 1, -1, -1))
        else:
            start = bisect.bisect_right(self._order, (bound, "\U0010ffff"))
            candidates = (self._order[i] for i in range(start, len(self._order)))
        rows: list[Row] = []
        for seq, model_id in candidates:
            held = self._rows.get(model_id)
            if held is None or held.seq != seq or not held.name.startswith(prefix):
                continue
            rows.append(self._row(model_id, held, tensors))
            if len(rows) == limit:
                break
        return rows

    async def _count(self) -> int:
        self._check_open()
        return len(self._rows)
