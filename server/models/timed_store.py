"""A store that times every operation and counts its failures and unreadable records."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from gatenet.server.metrics import Metrics
from gatenet.server.storage import (
    EncodedRecord,
    ModelMeta,
    ModelRecord,
    Store,
    StoreUnavailable,
    Validator,
)

T = TypeVar("T")
log = logging.getLogger("gatenet.server")


class TimedStore:
    """Wraps a Store: gatenet_store_seconds{operation, backend}, gatenet_store_errors_total."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.inner = store
        self.backend = store.backend
        self._metrics = metrics
        self._seconds = {
            op: metrics.store_seconds.labels(op, store.backend)
            for op in ("put", "get", "get_meta", "id_for_name", "delete", "page", "count", "recent")
        }
        self._reported: set[str] = set()  # at most one per stored record
        store.on_error(self._corrupt)

    def _corrupt(self, model_id: str, reason: str) -> None:
        """A record the store could not read: skipped, logged and counted once, never fatal."""
        if model_id in self._reported:
            return
        self._reported.add(model_id)
        self._metrics.store_errors.labels("corrupt").inc()
        log.warning(
            "unreadable record skipped",
            extra={"fields": {"model_id": model_id[:64], "reason": reason[:200]}},
        )

    async def _timed(self, op: str, call: Awaitable[T]) -> T:
        start = time.perf_counter()
        try:
            return await call
        except StoreUnavailable:
            self._metrics.store_errors.labels("unavailable").inc()
            raise
        finally:
            self._seconds[op].observe(time.perf_counter() - start)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> None:
        await self.inner.ping()

    async def put(self, record: ModelRecord | EncodedRecord) -> None:
        await self._timed("put", self.inner.put(record))

    async def get(self, model_id: str) -> ModelRecord | None:
        return await self._timed("get", self.inner.get(model_id))

    async def get_meta(self, model_id: str) -> ModelMeta | None:
        return await self._timed("get_meta", self.inner.get_meta(model_id))

    async def id_for_name(self, name: str) -> str | None:
        return await self._timed("id_for_name", self.inner.id_for_name(name))

    async def delete(self, model_id: str) -> ModelMeta | None:
        return await self._timed("delete", self.inner.delete(model_id))

    async def page(
        self, token: str, size: int, name_prefix: str = ""
    ) -> tuple[list[ModelMeta], str]:
        return await self._timed("page", self.inner.page(token, size, name_prefix))

    async def count(self) -> int:
        return await self._timed("count", self.inner.count())

    async def recent(self, n: int) -> list[ModelRecord]:
        return await self._timed("recent", self.inner.recent(n))

    def on_error(self, hook: Callable[[str, str], None]) -> None:
        self.inner.on_error(hook)

    def validate_with(self, validator: Validator) -> None:
        self.inner.validate_with(validator)

    def invalidations(self) -> AsyncIterator[str]:
        return self.inner.invalidations()
