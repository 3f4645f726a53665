"""The embedded store: one SQLite file (WAL, synchronous=FULL) owned by one thread.

Every sqlite call runs on a single dedicated thread that owns the connection, so
the asyncio loop never blocks on disk and sqlite never sees two threads. A flock
on a lock file keeps a second server off the same data.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from . import sqlite_sql as sql
from .base import BaseStore, Row
from .errors import StoreError, StoreLocked, StoreUnavailable
from .record import ModelMeta

T = TypeVar("T")


def _row(found: Any) -> Row:
    """A Row from the columns sql.py selects (a NULL name is the unnamed model's)."""
    seq, model_id, meta, tensors, name, created_at, checksum = found
    return Row(seq, model_id, meta, tensors, name or "", float(created_at), checksum)


class SqliteStore(BaseStore):
    """A Store in one SQLite file, locked against a second server."""

    backend = "sqlite"

    def __init__(self, db_path: Path, lock_path: Path, label: str) -> None:
        super().__init__()
        self._db_path = db_path
        self._lock_path = lock_path
        self._label = label  # "data dir /x" or "sqlite file /x/y.db", for messages
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        """Create the directory and schema and take the lock; StoreLocked or StoreError."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gatenet-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open_sync)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_sync(self) -> None:
        try:
            self._db_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileExistsError:  # mkdir met a file where the directory should be
            raise StoreError(f"store: {self._label} cannot be used (not a directory)") from None
        except OSError as exc:
            raise StoreError(f"store: {self._label} cannot be used ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(self._label, str(self._lock_path)) from None
        try:
            self._conn = self._connect()
        except BaseException:
            os.close(fd)  # releases the lock
            raise
        self._lock_fd = fd

    def _connect(self) -> sqlite3.Connection:
        try:
            return sql.connect(self._db_path)
        except sqlite3.Error as exc:
            raise StoreError(f"store: sqlite at {self._db_path} cannot be used ({exc})") from None

    async def close(self) -> None:
        """Close the connection, release the lock, end invalidations() iterators."""
        self._closed.set()
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        executor.shutdown(wait=False)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(connection, *args) on the sqlite thread, mapping sqlite errors to store errors."""
        executor = self._executor
        if executor is None or self._closed.is_set():
            why = "store closed" if self._closed.is_set() else "store not open"
            raise StoreUnavailable("sqlite", str(self._db_path), why)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, self._run, fn, args)
        except sqlite3.OperationalError as exc:  # disk full, I/O error, locked: may pass
            raise StoreUnavailable("sqlite", str(self._db_path), str(exc)) from None
        except sqlite3.Error as exc:
            raise StoreError(f"store: sqlite at {self._db_path} failed ({exc})") from None

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._conn is None:
            raise StoreUnavailable("sqlite", str(self._db_path), "store not open")
        return fn(self._conn, *args)

    async def ping(self) -> None:
        """Answer if the file can be read."""
        await self._call(sql.ping)

    async def _insert(self, meta: ModelMeta, meta_text: str, blob: bytes, checksum: str) -> None:
        await self._call(sql.insert, meta, meta_text, blob, checksum)

    async def _fetch(self, model_id: str, tensors: bool) -> Row | None:
        found = await self._call(sql.fetch, model_id, tensors)
        return None if found is None else _row(found)

    async def _lookup_name(self, name: str) -> str | None:
        found = await self._call(sql.lookup_name, name)
        return None if found is None else str(found[0])

    async def _remove(self, model_id: str) -> tuple[str, float, str | bytes] | None:
        found = await self._call(sql.remove, model_id)
        return None if found is None else (found[0] or "", float(found[1]), found[2])

    async def _scan(
        self, bound: int, limit: int, prefix: str, newest_first: bool, tensors: bool
    ) -> list[Row]:
        found = await self._call(sql.scan, bound, limit, prefix, newest_first, tensors)
        return [_row(row) for row in found]

    async def _count(self) -> int:
        return await self._call(sql.count)
