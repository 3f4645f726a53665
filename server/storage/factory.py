"""open_store: the --store flag's value to a Store, without connecting yet."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import clip
from .memory import MemoryStore
from .protocol import Store
from .sqlite import SqliteStore

FORMS = "memory, sqlite, sqlite:///ABSOLUTE/PATH.db or redis://HOST:PORT/DB"
DB_FILE = "gatenet.db"  # the sqlite file under --data-dir
LOCK_FILE = "LOCK"  # held by the server that owns --data-dir


def _bad(url: str, why: str) -> ValueError:
    return ValueError(f"--store: {clip(url)} {why}; use {FORMS}")


def open_store(url: str, data_dir: str | os.PathLike[str]) -> Store:
    """The Store the url names (data_dir holds the default sqlite file); ValueError if bad."""
    if url == "memory":
        return MemoryStore()
    if url == "sqlite":
        home = Path(data_dir).absolute()
        return SqliteStore(home / DB_FILE, home / LOCK_FILE, f"data dir {home}")
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://"))
        if not path.is_absolute() or path.name in ("", ".", ".."):
            raise _bad(url, "is not an absolute sqlite file path")
        return SqliteStore(path, path.with_name(path.name + ".lock"), f"sqlite file {path}")
    if url.startswith("redis://"):
        return _redis(url)
    raise _bad(url, "is not a store")


def _redis(url: str) -> Store:
    from .redis import RedisStore  # imports redis-py only for a server that uses it

    try:
        parts = urlsplit(url)
        port = 6379 if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise _bad(url, "has a bad port")
    db_text = parts.path.lstrip("/") or "0"
    if not parts.hostname or not db_text.isascii() or not db_text.isdigit():
        raise _bad(url, "needs a host and a numeric db")
    if parts.query or parts.fragment:
        raise _bad(url, "takes no options")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return RedisStore(parts.hostname, port, int(db_text), username, password)
