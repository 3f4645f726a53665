"""The real server's HTTP port with an imported XOR model, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from gatenet.client import Client
from gatenet.server.app import GatenetServer
from gatenet_testing.http_support import xor_model_file
from gatenet_testing.servers import start_server


class Served(NamedTuple):
    server: GatenetServer
    base: str  # http://127.0.0.1:PORT
    model_id: str
    name: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A server of this module's own with the XOR model imported as "xor-http"."""
    srv = start_server(max_predict_rows=2048)
    with Client(srv.target, timeout=60) as c:
        info = c.import_model(xor_model_file(), name="xor-http")
    assert srv.http is not None
    yield Served(srv, f"http://127.0.0.1:{srv.http.port}", info.model_id, "xor-http")
    srv.stop(0)
