"""The redis backend against a real redis-server: durability, outages, replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatenet.server.storage import (
    FORGET_ALL,
    ModelRecord,
    NameTaken,
    Store,
    StoreError,
    StoreUnavailable,
)
from gatenet.server.storage import open_store as _open_store
from gatenet.server.storage import redis as redis_store
from gatenet_testing.storage_support import (
    RedisServer,
    assert_same,
    check_prefix_pages,
    find_redis_server,
    make_record,
)

pytestmark = pytest.mark.redis
FAST = 1.0  # seconds: how quickly a call must fail while Redis is down


async def opened(server: RedisServer) -> Store:
    store = _open_store(server.url, "/nonexistent")
    await store.open()
    return store


async def test_acknowledged_puts_survive_kill_9(redis_server: RedisServer) -> None:
    store = await opened(redis_server)
    records = [make_record(f"k{i}") for i in range(50)]
    for record in records:
        await store.put(record)
    redis_server.kill()
    redis_server.start()  # same port, dir and AOF
    for record in records:
        assert_same(await store.get(record.meta.model_id), record)
    assert await store.count() == 50
    assert [m.name for m in (await store.page("", 100))[0]] == [f"k{i}" for i in range(50)]
    await store.close()


async def test_calls_fail_fast_while_down_and_work_when_back(redis_server: RedisServer) -> None:
    store = await opened(redis_server)
    kept = make_record("kept")
    await store.put(kept)
    redis_server.kill()
    calls = [lambda: store.put(make_record()), lambda: store.get(kept.meta.model_id), store.ping]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await call()
        assert time.monotonic() - started < FAST
        assert str(caught.value) == (
            f"store: redis at 127.0.0.1:{redis_server.port} is unavailable"
            " (Connection refused); retry later"
        )
    redis_server.start()
    assert_same(await store.get(kept.meta.model_id), kept)  # same Store object, no reopen
    await store.put(make_record("after"))
    assert await store.count() == 2
    await store.close()


async def test_open_refuses_redis_that_is_down_or_not_durable(tmp_path: Path) -> None:
    server = RedisServer(find_redis_server(), tmp_path, durable=False)
    store = _open_store(server.url, tmp_path)
    with pytest.raises(StoreUnavailable, match="Connection refused"):
        await store.open()
    await store.close()
    server.start()
    try:
        store = _open_store(server.url, tmp_path)
        with pytest.raises(StoreError, match="appendonly no, appendfsync everysec"):
            await store.open()
        await store.close()
    finally:
        server.kill()


async def _first(ids: AsyncIterator[str]) -> str:
    return await anext(ids)


async def test_a_delete_reaches_the_other_replica_even_across_a_redis_kill(
    redis_server: RedisServer,
) -> None:
    a, b = await opened(redis_server), await opened(redis_server)
    first, second, third = make_record("one"), make_record("two"), make_record("three")
    for record in (first, second):
        await a.put(record)
    ids = b.invalidations()
    heard = asyncio.create_task(_first(ids))
    await asyncio.sleep(0.05)  # b is waiting on the stream (a delete before that counts too)
    assert (await a.delete(first.meta.model_id)) == first.meta
    assert await asyncio.wait_for(heard, 2.0) == first.meta.model_id
    assert await b.get(first.meta.model_id) is None

    redis_server.kill()  # SIGKILL; b keeps retrying its read meanwhile
    heard = asyncio.create_task(_first(ids))
    await asyncio.sleep(0.3)
    redis_server.start()
    # Deleted at once, before b has read again: pub/sub lost exactly this one.
    await a.delete(second.meta.model_id)
    assert await asyncio.wait_for(heard, 2.0) == second.meta.model_id

    # Redis loses its data: b cannot know what it missed, so it drops everything.
    redis_server.command(b"FLUSHALL")
    await a.put(third)
    await a.delete(third.meta.model_id)
    assert await asyncio.wait_for(_first(ids), 2.0) == FORGET_ALL

    rest = asyncio.create_task(_first(ids))
    await b.close()  # ends the iterator
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(rest, 2.0)
    await a.close()


async def test_a_replica_whose_position_was_trimmed_away_forgets_everything(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "STREAM_KEEP", 1)  # trim as soon as Redis can
    a, b = await opened(redis_server), await opened(redis_server)
    ids = b.invalidations()  # b reads nothing while a deletes many
    for _ in range(250):  # past a whole stream node (100 entries): trimming frees it
        record = make_record()
        await a.put(record)
        await a.delete(record.meta.model_id)
    assert await asyncio.wait_for(_first(ids), 2.0) == FORGET_ALL
    record = make_record()
    await a.put(record)
    await a.delete(record.meta.model_id)
    assert await asyncio.wait_for(_first(ids), 2.0) == record.meta.model_id
    await b.close()
    await a.close()


async def test_a_record_from_before_checksums_reads_unverified(redis_server: RedisServer) -> None:
    store = await opened(redis_server)
    record = make_record("legacy")
    await store.put(record)
    key = f"gatenet:model:{record.meta.model_id}"
    assert redis_server.command(b"HDEL", key.encode(), b"checksum") == b":1"
    assert_same(await store.get(record.meta.model_id), record)
    await store.close()


async def test_prefix_pages_across_scan_batches(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "SCAN_BUDGET", 2)  # many script calls per page
    store = await opened(redis_server)
    await check_prefix_pages(store)
    await store.close()


async def test_one_name_one_winner_across_replicas(redis_server: RedisServer) -> None:
    a, b = await opened(redis_server), await opened(redis_server)
    for round_ in range(20):
        rivals = [make_record(f"race{round_}") for _ in range(2)]
        results = await asyncio.gather(a.put(rivals[0]), b.put(rivals[1]), return_exceptions=True)
        lost = [i for i, result in enumerate(results) if isinstance(result, NameTaken)]
        assert len(lost) == 1 and results[1 - lost[0]] is None, results
        winner: ModelRecord = rivals[1 - lost[0]]
        assert await a.id_for_name(f"race{round_}") == winner.meta.model_id
        assert await b.get(rivals[lost[0]].meta.model_id) is None
    assert await a.count() == 20
    await a.close()
    await b.close()
