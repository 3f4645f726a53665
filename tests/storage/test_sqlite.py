"""The sqlite backend: durable across kill -9, one server per data dir, clear start-up errors."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gatenet.server.storage import (
    CorruptRecord,
    StoreError,
    StoreLocked,
    encode_record,
    open_store,
    sqlite_sql,
)
from gatenet.server.storage.sqlite_sql import prefix_bounds
from gatenet_testing.storage_support import assert_same, check_prefix_pages, make_record

PRINTED = 40  # acknowledged puts to read before the kill


def child(*args: str) -> subprocess.Popen[str]:
    """gatenet_testing.store_child in a fresh interpreter."""
    cmd = [sys.executable, "-m", "gatenet_testing.store_child", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


async def test_every_acknowledged_put_survives_kill_9(tmp_path: Path) -> None:
    proc = child("put", str(tmp_path), "100000")
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().split() for _ in range(PRINTED)]
    proc.send_signal(signal.SIGKILL)  # mid-stream: it is writing the next record
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    store = open_store("sqlite", tmp_path)
    await store.open()  # the dead writer's lock went with it
    try:
        for seed, model_id in acknowledged:
            want = make_record(f"m{seed}", seed=int(seed))
            assert want.meta.model_id == model_id
            assert_same(await store.get(model_id), want)
        assert await store.count() >= PRINTED
    finally:
        await store.close()


async def test_a_second_server_on_the_same_dir_is_refused(tmp_path: Path) -> None:
    first = open_store("sqlite", tmp_path / "data")
    await first.open()
    second = open_store("sqlite", tmp_path / "data")
    with pytest.raises(StoreLocked) as caught:
        await second.open()
    home = (tmp_path / "data").absolute()
    assert str(caught.value) == (
        f"data dir {home} is in use by another gatenet server (lock file {home}/LOCK held)"
    )
    other = child("open", str(tmp_path / "data"))
    out, _ = other.communicate(timeout=30)
    assert out.startswith("StoreLocked data dir ") and out.count("\n") == 1
    await first.close()
    await second.open()  # released on close
    await second.close()


async def test_explicit_file_locks_itself_not_its_directory(tmp_path: Path) -> None:
    a = open_store(f"sqlite://{tmp_path}/sub/a.db", tmp_path)
    b = open_store(f"sqlite://{tmp_path}/sub/b.db", tmp_path)
    again = open_store(f"sqlite://{tmp_path}/sub/a.db", tmp_path)
    await a.open()
    await b.open()
    with pytest.raises(StoreLocked, match=r"sqlite file .*/a\.db is in use .*a\.db\.lock held"):
        await again.open()
    record = make_record("x")
    await a.put(record)
    assert await b.get(record.meta.model_id) is None
    await a.close()
    await b.close()


@pytest.mark.parametrize("where", ["under_a_file", "is_a_file"])
async def test_an_unusable_data_dir_is_one_clear_line(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    data_dir = blocker / "data" if where == "under_a_file" else blocker
    store = open_store("sqlite", data_dir)
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert type(caught.value) is StoreError
    reason = "Not a directory" if where == "under_a_file" else "not a directory"
    assert str(caught.value) == f"store: data dir {data_dir} cannot be used ({reason})"
    await store.close()


async def test_a_file_that_is_not_a_database_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "gatenet.db").write_bytes(b"this is not sqlite" * 100)
    store = open_store("sqlite", tmp_path)
    with pytest.raises(StoreError, match="cannot be used \\(file is not a database\\)$"):
        await store.open()
    store = open_store("sqlite", tmp_path / "again")  # and the lock was released
    await store.open()
    await store.close()


async def test_schema_is_wal_with_a_version(tmp_path: Path) -> None:
    store = open_store("sqlite", tmp_path)
    await store.open()
    await store.put(make_record("x"))
    with sqlite3.connect(tmp_path / "gatenet.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        assert conn.execute("SELECT name FROM models").fetchall() == [("x",)]
    conn.close()
    await store.close()


def test_prefix_bounds_cover_exactly_the_prefix() -> None:
    assert prefix_bounds("a%") == ("a%", "a&")
    assert prefix_bounds("a_") == ("a_", "a`")
    assert prefix_bounds("a\ud7ff") == ("a\ud7ff", "a\ue000")
    assert prefix_bounds("a\U0010ffff") == ("a\U0010ffff", "b")
    assert prefix_bounds("\U0010ffff") == ("\U0010ffff", None)


@pytest.mark.parametrize("window", [2, 5, 4096])
async def test_prefix_pages_agree_whichever_plan_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setattr(sqlite_sql, "WINDOW", window)  # small: the name-index plan runs
    store = open_store("sqlite", tmp_path)
    await store.open()
    await check_prefix_pages(store)
    await store.close()


V1_SCHEMA = """
CREATE TABLE models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT UNIQUE NOT NULL,
    name TEXT,
    created_at REAL NOT NULL,
    meta TEXT NOT NULL,
    tensors BLOB NOT NULL
);
CREATE UNIQUE INDEX models_by_name ON models (name);
PRAGMA user_version=1;
"""


async def test_a_version_1_file_is_migrated_and_its_rows_checksummed(tmp_path: Path) -> None:
    old = [make_record(f"old{i}") for i in range(3)]
    with sqlite3.connect(tmp_path / "gatenet.db") as conn:  # as the last gatenet wrote it
        conn.executescript(V1_SCHEMA)
        for record in old:
            meta_text, blob = encode_record(record)
            conn.execute(
                "INSERT INTO models (model_id, name, created_at, meta, tensors)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.meta.model_id, record.meta.name, record.meta.created_at, meta_text, blob),
            )
    conn.close()
    store = open_store("sqlite", tmp_path)
    await store.open()
    for record in old:
        assert_same(await store.get(record.meta.model_id), record)
    await store.put(make_record("new"))
    await store.close()
    with sqlite3.connect(tmp_path / "gatenet.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        sums = conn.execute("SELECT checksum FROM models ORDER BY seq").fetchall()
        assert len(sums) == 4 and all(str(s).startswith("sha256:") for (s,) in sums)
        (blob,) = conn.execute(
            "SELECT tensors FROM models WHERE model_id = ?", (old[0].meta.model_id,)
        ).fetchone()
        flipped = blob[:-1] + bytes([blob[-1] ^ 1])
        conn.execute(
            "UPDATE models SET tensors = ? WHERE model_id = ?", (flipped, old[0].meta.model_id)
        )
    conn.close()
    store = open_store("sqlite", tmp_path)
    await store.open()
    with pytest.raises(CorruptRecord, match="tensors do not match their checksum"):
        await store.get(old[0].meta.model_id)
    assert_same(await store.get(old[1].meta.model_id), old[1])
    await store.close()
