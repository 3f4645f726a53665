"""Store fixtures: each backend opened for real, a corrupter per backend, redis-server."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from storage_support import RedisServer, find_redis_server

from gatenet.server.storage import Store, open_store

TEST_TIMEOUT = 20.0  # seconds for one async test body


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop (no pytest-asyncio needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), TEST_TIMEOUT))
    return True


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh durable redis-server of our own, stopped after the test."""
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(find_redis_server(), data)
    server.start()
    yield server
    server.kill()


@dataclass
class Backend:
    """One backend under test: opens stores on it and damages records behind their back."""

    kind: str
    url: str
    data_dir: Path

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        """An opened Store, closed afterwards."""
        store = open_store(self.url, self.data_dir)
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    def corrupt(self, store: Store, model_id: str, column: str, garbage: bytes) -> None:
        """Overwrite the stored meta or tensors of model_id with garbage, bypassing the Store."""
        assert column in ("meta", "tensors")
        if self.kind == "memory":
            rows = store._rows  # type: ignore[attr-defined]
            rows[model_id] = rows[model_id]._replace(**{column: garbage})
        elif self.kind == "sqlite":
            with sqlite3.connect(self.data_dir / "gatenet.db") as conn:
                sql = f"UPDATE models SET {column} = ? WHERE model_id = ?"
                assert conn.execute(sql, (garbage, model_id)).rowcount == 1
            conn.close()
        else:
            client = redis.Redis.from_url(self.url)
            try:
                client.hset(f"gatenet:model:{model_id}", column, garbage)
            finally:
                client.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend in turn, on fresh storage."""
    kind: str = request.param
    if kind == "redis":
        url = request.getfixturevalue("redis_server").url
    else:
        url = kind
    return Backend(kind, url, tmp_path / "data")
