"""The sqlite schema and statements; plain functions of a connection, run on the store's thread.

Query plans are pinned (NOT INDEXED / INDEXED BY) rather than left to the planner,
which without statistics picks a full scan for a rare name prefix.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .checksum import record_checksum
from .errors import NameTaken, StoreError
from .record import ModelMeta

# 2: each row carries the checksum of its meta and tensors. A version-1 file is migrated
# when opened: one transaction adds the column and checksums every row as it stands.
SCHEMA_VERSION = 2
READS = (0, 1, SCHEMA_VERSION)  # 0: a new file
SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT UNIQUE NOT NULL,
    name TEXT,
    created_at REAL NOT NULL,
    meta TEXT NOT NULL,
    tensors BLOB NOT NULL,
    checksum TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS models_by_name ON models (name);
"""
MAX_SEQ = 2**63 - 1
WINDOW = 4096  # rows a prefix page reads in seq order before it turns to the name index


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


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL and the schema in place."""
    # Autocommit: each statement is its own transaction, committed when it returns.
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"store: sqlite at {db_path} cannot use WAL (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in READS:
            raise StoreError(
                f"store: sqlite at {db_path} has schema version {version};"
                f" this gatenet reads {', '.join(map(str, READS[1:]))}"
            )
        conn.executescript(SCHEMA)
        if "checksum" not in {row[1] for row in conn.execute("PRAGMA table_info(models)")}:
            add_checksums(conn)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return conn
    except BaseException:
        conn.close()
        raise


def add_checksums(conn: sqlite3.Connection) -> None:
    """Migrate a version-1 table: add the checksum column and fill it, in one transaction.

    Rows get the checksum of their bytes as they are: damage from before the migration
    is left to the record checks, damage after it is caught by the checksum too.
    """
    conn.create_function("gatenet_checksum", 2, record_checksum, deterministic=True)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE models ADD COLUMN checksum TEXT")
        conn.execute("UPDATE models SET checksum = gatenet_checksum(meta, tensors)")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def insert(
    conn: sqlite3.Connection, meta: ModelMeta, meta_text: str, blob: bytes, checksum: str
) -> None:
    """Insert one row (its own transaction); on a conflict, say which and who holds it."""
    try:
        conn.execute(
            "INSERT INTO models (model_id, name, created_at, meta, tensors, checksum)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (meta.model_id, meta.name or None, meta.created_at, meta_text, blob, checksum),
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


def _columns(tensors: bool) -> str:
    return f"seq, model_id, meta, {'tensors' if tensors else 'NULL'}, name, created_at, checksum"


def ping(conn: sqlite3.Connection) -> None:
    """Read the file header: fails if the file or the connection is gone."""
    conn.execute("PRAGMA user_version").fetchone()


def fetch(conn: sqlite3.Connection, model_id: str, tensors: bool) -> Any:
    """(seq, model_id, meta, tensors or None, name, created_at, checksum), None if absent."""
    sql = f"SELECT {_columns(tensors)} FROM models WHERE model_id = ?"
    return conn.execute(sql, (model_id,)).fetchone()


def lookup_name(conn: sqlite3.Connection, name: str) -> Any:
    """(model_id,) of the model holding name, None if none does."""
    return conn.execute("SELECT model_id FROM models WHERE name = ?", (name,)).fetchone()


def remove(conn: sqlite3.Connection, model_id: str) -> Any:
    """Delete one model (its own transaction); (name, created_at, meta) or None."""
    sql = "DELETE FROM models WHERE model_id = ? RETURNING name, created_at, meta"
    return conn.execute(sql, (model_id,)).fetchone()


def count(conn: sqlite3.Connection) -> int:
    """How many models are stored."""
    return int(conn.execute("SELECT count(*) FROM models").fetchone()[0])


def scan(
    conn: sqlite3.Connection, bound: int, limit: int, prefix: str, newest_first: bool, tensors: bool
) -> list[Any]:
    """Up to limit rows in seq order strictly after (before, if newest_first) bound."""
    after, order = ("<", "DESC") if newest_first else (">", "ASC")
    bound = bound or (MAX_SEQ if newest_first else 0)
    cols = _columns(tensors)
    walk = f"FROM models NOT INDEXED WHERE seq {after} ? ORDER BY seq {order} LIMIT ?"
    if not prefix:
        return conn.execute(f"SELECT {cols} {walk}", (bound, limit)).fetchall()
    low, high = prefix_bounds(prefix)
    names = "name >= ?" + ("" if high is None else " AND name < ?")
    name_args = [low] if high is None else [low, high]
    # A common prefix fills the page within a short walk in seq order (the subquery is
    # a lazy co-routine, so the walk stops at the limit-th hit); a rare one is read
    # through the name index instead, where sorting its few rows by seq is cheap.
    hits_sql = f"SELECT seq FROM (SELECT seq, name {walk}) WHERE {names} LIMIT ?"
    hits = [row[0] for row in conn.execute(hits_sql, (bound, WINDOW, *name_args, limit))]
    if len(hits) == limit:
        span = sorted((hits[0], hits[-1]))
        sql = f"SELECT {cols} FROM models NOT INDEXED WHERE seq BETWEEN ? AND ? AND {names}"
        return conn.execute(f"{sql} ORDER BY seq {order}", (*span, *name_args)).fetchall()
    sql = f"SELECT {cols} FROM models INDEXED BY models_by_name WHERE {names} AND seq {after} ?"
    return conn.execute(
        f"{sql} ORDER BY seq {order} LIMIT ?", (*name_args, bound, limit)
    ).fetchall()
