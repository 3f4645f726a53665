"""The redis backend against a real redis-server: durability, outages, replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from storage_support import (
    RedisServer,
    assert_same,
    check_prefix_pages,
    find_redis_server,
    make_record,
)

from gatenet.server.storage import ModelRecord, NameTaken, Store, StoreError, StoreUnavailable
from gatenet.server.storage import open_store as _open_store
from gatenet.server.storage import redis as redis_store

pytestmark = pytest.mark.redis
CHANNEL = "gatenet:invalidate"
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


async def _subscribed(server: RedisServer, count: int) -> None:
    """Wait until count clients listen on the invalidation channel."""
    while await asyncio.to_thread(_listeners, server) < count:
        await asyncio.sleep(0.01)


def _listeners(server: RedisServer) -> int:
    client = redis.Redis(port=server.port)
    try:
        return int(dict(client.pubsub_numsub(CHANNEL))[CHANNEL.encode()])
    finally:
        client.close()


async def test_a_delete_invalidates_the_other_replica(redis_server: RedisServer) -> None:
    a, b = await opened(redis_server), await opened(redis_server)
    first, second = make_record("one"), make_record("two")
    await a.put(first)
    await a.put(second)
    ids = b.invalidations()
    heard = asyncio.create_task(_first(ids))
    await _subscribed(redis_server, 1)
    assert (await a.delete(first.meta.model_id)) == first.meta
    assert await asyncio.wait_for(heard, 1.0) == first.meta.model_id
    assert await b.get(first.meta.model_id) is None

    redis_server.kill()  # the subscriber reconnects once Redis is back
    redis_server.start()
    heard = asyncio.create_task(_first(ids))
    await _subscribed(redis_server, 1)
    await a.delete(second.meta.model_id)
    assert await asyncio.wait_for(heard, 1.0) == second.meta.model_id

    rest = asyncio.create_task(_first(ids))
    await b.close()  # ends the iterator
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(rest, 1.0)
    await a.close()


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
