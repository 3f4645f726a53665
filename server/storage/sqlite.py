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

from .base import MAX_SEQ, BaseStore, Row
from .errors import NameTaken, StoreError, StoreLocked, StoreUnavailable
from .record import ModelMeta

T = TypeVar("T")
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT UNIQUE NOT NULL,
    name TEXT UNIQUE,
    created_at REAL NOT NULL,
    meta TEXT NOT NULL,
    tensors BLOB NOT NULL
)
"""


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """[low, high) holding exactly the strings that start with prefix, for an index range.

    SQLite compares text as UTF-8 bytes, which orders like code points, so the bound
    is the prefix with its last character incremented (past the surrogate gap).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if last == 0xD800:
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix, "".join(chars) + chr(last)
    return prefix, None


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
        conn: sqlite3.Connection | None = None
        try:
            # Autocommit: each statement is its own transaction, committed on return.
            conn = sqlite3.connect(self._db_path, isolation_level=None)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"store: sqlite at {self._db_path} cannot use WAL (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(
                    f"store: sqlite at {self._db_path} has schema version {version};"
                    f" this gatenet reads {SCHEMA_VERSION}"
                )
            conn.execute(SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"store: sqlite at {self._db_path} cannot be used ({exc})") from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise

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
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone())

    async def _insert(self, meta: ModelMeta, meta_text: str, blob: bytes) -> None:
        await self._call(_insert, meta, meta_text, blob)

    async def _fetch(self, model_id: str, tensors: bool) -> Row | None:
        columns = "seq, model_id, meta, tensors" if tensors else "seq, model_id, meta, NULL"
        sql = f"SELECT {columns} FROM models WHERE model_id = ?"
        found = await self._call(lambda conn: conn.execute(sql, (model_id,)).fetchone())
        return None if found is None else Row(*found)

    async def _lookup_name(self, name: str) -> str | None:
        sql = "SELECT model_id FROM models WHERE name = ?"
        found = await self._call(lambda conn: conn.execute(sql, (name,)).fetchone())
        return None if found is None else str(found[0])

    async def _remove(self, model_id: str) -> tuple[str, float, str | bytes] | None:
        sql = "DELETE FROM models WHERE model_id = ? RETURNING name, created_at, meta"
        found = await self._call(lambda conn: conn.execute(sql, (model_id,)).fetchone())
        return None if found is None else (found[0] or "", float(found[1]), found[2])

    async def _scan(
        self, bound: int, limit: int, prefix: str, newest_first: bool, tensors: bool
    ) -> list[Row]:
        columns = "seq, model_id, meta, tensors" if tensors else "seq, model_id, meta, NULL"
        where = "seq < ?" if newest_first else "seq > ?"
        args: list[object] = [bound or MAX_SEQ] if newest_first else [bound]
        if prefix:
            low, high = prefix_bounds(prefix)
            where += " AND name >= ?" + ("" if high is None else " AND name < ?")
            args += [low] if high is None else [low, high]
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {columns} FROM models WHERE {where} ORDER BY seq {order} LIMIT ?"
        found = await self._call(lambda conn: conn.execute(sql, [*args, limit]).fetchall())
        return [Row(*row) for row in found]

    async def _count(self) -> int:
        sql = "SELECT count(*) FROM models"
        return int(await self._call(lambda conn: conn.execute(sql).fetchone()[0]))


def _insert(conn: sqlite3.Connection, meta: ModelMeta, meta_text: str, blob: bytes) -> None:
    """Insert one row (its own transaction); on a conflict, say which and who holds it."""
    try:
        conn.execute(
            "INSERT INTO models (model_id, name, created_at, meta, tensors) VALUES (?, ?, ?, ?, ?)",
            (meta.model_id, meta.name or None, meta.created_at, meta_text, blob),
        )
        return
    except sqlite3.IntegrityError:
        pass  # diagnosed below, outside the handler so the error chain stays clean
    held = conn.execute(
        "SELECT meta, tensors FROM models WHERE model_id = ?", (meta.model_id,)
    ).fetchone()
    if held is not None:
        if held[0] == meta_text and held[1] == blob:
            return  # a retried put of the same record
        raise StoreError(f"model {meta.model_id} is already stored; models are immutable")
    holder = conn.execute("SELECT model_id FROM models WHERE name = ?", (meta.name,)).fetchone()
    if holder is not None:
        raise NameTaken(meta.name, str(holder[0]))
    raise StoreError(f"store: sqlite refused model {meta.model_id} (constraint failed)")
