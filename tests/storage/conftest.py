"""Store fixtures: each backend opened for real, a corrupter per backend, redis-server."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from gatenet_testing.storage_support import Backend

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


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend in turn, on fresh storage."""
    kind: str = request.param
    if kind == "redis":
        url = request.getfixturevalue("redis_server").url
    else:
        url = kind
    return Backend(kind, url, tmp_path / "data")
