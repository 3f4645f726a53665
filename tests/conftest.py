"""Fixtures that start the real gatenet server on loopback and connect the real client."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from safetensors.numpy import save as save_safetensors

from gatenet.client import Client, ModelInfo
from gatenet.server.app import GatenetServer
from gatenet_testing.serve_process import RedisServer, find_redis_server
from gatenet_testing.servers import start_server

# `gatenet serve` processes the tests start take a free HTTP port, not the default 8080 (two
# at once would collide); tests that care pass --http-port themselves.
os.environ.setdefault("GATENET_HTTP_PORT", "0")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """make test's slow step runs on two xdist workers with --dist loadgroup: a test without a
    group joins its module's, so a module's fixtures start once, on one worker."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def server() -> Iterator[GatenetServer]:
    """One real server shared by the tests that don't care about its settings."""
    srv = start_server()
    yield srv
    srv.stop(0)


@pytest.fixture
def client(server: GatenetServer) -> Iterator[Client]:
    """The real client on a real channel to the shared server."""
    with Client(server.target, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def xor(server: GatenetServer) -> ModelInfo:
    """A fitted, named 2-4-1 tanh XOR on the shared server, for tests that only read it."""
    recipe = {"hidden_sizes": [4], "activation": "tanh", "seed": 0, "restarts": 8}
    with Client(server.target, timeout=60) as c:
        info = c.train(gate="xor", name="xor-shared", **recipe)
    assert info.fit
    return info


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh durable redis-server of our own (append-only file on), killed after the test."""
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(find_redis_server(), data)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def open_channel() -> Iterator[Callable[[str], grpc.Channel]]:
    """Raw channels for calls and bytes the client never sends; each closed after the test."""
    opened: list[grpc.Channel] = []

    def open_(target: str) -> grpc.Channel:
        opened.append(grpc.insecure_channel(target))
        return opened[-1]

    yield open_
    for channel in opened:
        channel.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., GatenetServer]]:
    """Start servers with custom settings; each is stopped after the test."""
    started: list[GatenetServer] = []

    def make(**overrides: object) -> GatenetServer:
        srv = start_server(**overrides)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop(0)


@pytest.fixture(scope="session")
def wide_model_file() -> bytes:
    """A 64-64-1 sigmoid model as a safetensors file: 64 x 64 + 64 x 1 = 4160 multiply-adds a
    row, so 1,000,000 admits 240 rows. Imported, not trained: no worker to wait for."""
    rng = np.random.default_rng(7)
    tensors = {
        "layers.0.weight": rng.normal(0, 0.3, (64, 64)).astype(np.float32),
        "layers.0.bias": rng.normal(0, 0.3, 64).astype(np.float32),
        "layers.1.weight": rng.normal(0, 0.3, (64, 1)).astype(np.float32),
        "layers.1.bias": rng.normal(0, 0.3, 1).astype(np.float32),
    }
    return save_safetensors(tensors, metadata={"activation": "sigmoid"})
