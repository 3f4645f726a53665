"""open_store: the --store forms it accepts, and one clear line for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatenet.server.storage import open_store


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("memory", "memory"),
        ("sqlite", "sqlite"),
        ("sqlite:///srv/gatenet/models.db", "sqlite"),
        ("redis://127.0.0.1:6379/0", "redis"),
        ("redis://redis", "redis"),
        ("redis://:secret@redis:6380/2", "redis"),
    ],
)
def test_accepted_forms_do_not_connect(url: str, backend: str, tmp_path: Path) -> None:
    store = open_store(url, tmp_path / "data")
    assert store.backend == backend
    assert not (tmp_path / "data").exists()  # nothing happens before open()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "is not a store"),
        ("postgres://db/x", "is not a store"),
        ("Memory", "is not a store"),
        ("sqlite://relative.db", "is not an absolute sqlite file path"),
        ("sqlite:///", "is not an absolute sqlite file path"),
        ("redis://:6379/0", "needs a host and a numeric db"),
        ("redis://host:6379/zero", "needs a host and a numeric db"),
        ("redis://host:99999/0", "has a bad port"),
        ("redis://host:port/0", "has a bad port"),
        ("redis://host/0?ssl=1", "takes no options"),
        ("x" * 5000, "is not a store"),
    ],
)
def test_bad_forms_say_what_is_allowed(url: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        open_store(url, tmp_path)
    message = str(caught.value)
    assert message.startswith("--store: '")
    assert message.endswith(
        "use memory, sqlite, sqlite:///ABSOLUTE/PATH.db or redis://HOST:PORT/DB"
    )
    assert "\n" not in message and len(message) < 200
