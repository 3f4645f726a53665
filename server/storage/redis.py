"""The shared store: one Redis (AOF, fsync always) behind every replica.

Writes and deletes are Lua scripts, so each is atomic and name-unique across
replicas; a delete appends the id to a stream every replica reads from its last
seen entry (redis_events.py), so each drops its cached copy even across a blip.
Every call fails fast with StoreUnavailable while Redis is down and works again
as soon as it is back; nothing here needs a restart. Single Redis, not Cluster:
the delete script builds the name key it touches.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import BaseStore, Row
from .errors import NameTaken, StoreError, StoreUnavailable
from .record import ModelMeta
from .redis_events import StreamPosition, deleted_ids
from .redis_scripts import DELETE, PAGE_BY_PREFIX, PUT

PREFIX = "gatenet:"
MODELS = PREFIX + "models"  # sorted set: model id scored by its sequence number
SEQ = PREFIX + "seq"  # INCR counter behind the scores
STREAM = PREFIX + "deleted"  # a stream of deleted ids, read by every replica
STREAM_KEEP = 10_000  # entries kept (about); a replica further behind drops its whole cache
CONNECT_TIMEOUT = 0.5  # seconds: a down Redis must fail calls fast
CALL_TIMEOUT = 2.0  # seconds for one reply; fsync-always writes need some slack
SCAN_BUDGET = 2000  # zset entries one prefix-walk call examines (Redis runs scripts alone)
TRANSIENT = ("MISCONF", "READONLY", "OOM", "BUSY", "MASTERDOWN", "LOADING")


def _fields(tensors: bool) -> list[str]:
    """The fields of a model hash a read takes, in the order _row expects."""
    return ["meta", "name", "created_at", "checksum", *(["tensors"] if tensors else [])]


def _row(seq: int, model_id: str, got: list[Any]) -> Row:
    """A Row from HMGET _fields(...)."""
    meta, name, created_at, checksum, *blob = got
    try:
        when = float(created_at or 0)
    except ValueError:
        when = 0.0
    return Row(seq, model_id, meta, blob[0] if blob else None, _text(name or b""), when, checksum)


def _model_key(model_id: str) -> str:
    return f"{PREFIX}model:{model_id}"


def _name_key(name: str) -> str:
    return f"{PREFIX}name:{name}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _reason(exc: BaseException) -> str:
    """The shortest cause worth a log line: the OS error if there is one."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            # asyncio's strerror repeats the address ("Connect call failed (...)");
            # resolver errors have negative numbers that only their strerror explains.
            errno = cause.errno
            return os.strerror(errno) if errno is not None and errno > 0 else str(cause.strerror)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return "timed out"
    return (str(exc).splitlines() or [type(exc).__name__])[0][:100]


class RedisStore(BaseStore):
    """A Store in a Redis server shared by every replica."""

    backend = "redis"

    def __init__(
        self, host: str, port: int, db: int, username: str | None, password: str | None
    ) -> None:
        super().__init__()
        self._address = f"{host}:{port}"
        self._client = aioredis.Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CALL_TIMEOUT,
            # One immediate retry on a dropped connection (a pooled one that died with
            # a restarted Redis); none on a timeout, whose command may have run.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._put = self._client.register_script(PUT)
        self._delete = self._client.register_script(DELETE)
        self._page_by_prefix = self._client.register_script(PAGE_BY_PREFIX)
        self._position = StreamPosition()

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        """Turn redis-py errors into store errors naming this Redis; refuse once closed."""
        if self._closed.is_set():  # redis-py would quietly reconnect
            raise StoreUnavailable("redis", self._address, "store closed")
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError) as exc:
            raise StoreUnavailable("redis", self._address, _reason(exc)) from None
        except ResponseError as exc:
            if str(exc).startswith(TRANSIENT):
                raise StoreUnavailable("redis", self._address, _reason(exc)) from None
            raise StoreError(f"store: redis at {self._address} refused ({_reason(exc)})") from None
        except RedisError as exc:
            raise StoreError(f"store: redis at {self._address} failed ({_reason(exc)})") from None

    async def open(self) -> None:
        """Check Redis answers and persists every write; StoreError otherwise."""
        await self.ping()
        with self._mapped():  # before the cache is warmed: no delete after it goes unseen
            await self._position.start(self._client, STREAM)
        with self._mapped():
            try:
                config: Any = await self._client.config_get("append*")
            except ResponseError:  # CONFIG disabled (managed Redis): trust the operator
                return
        settings = {_text(k): _text(v) for k, v in config.items()}  # redis-py decodes these
        aof, fsync = settings.get("appendonly", "?"), settings.get("appendfsync", "?")
        if (aof, fsync) != ("yes", "always"):
            raise StoreError(
                f"store: redis at {self._address} does not make writes durable"
                f" (appendonly {aof}, appendfsync {fsync}); run it with"
                " --appendonly yes --appendfsync always"
            )

    async def close(self) -> None:
        """Close every connection and end invalidations() iterators."""
        self._closed.set()
        await self._client.aclose()

    async def ping(self) -> None:
        """Return if Redis answers; StoreUnavailable otherwise."""
        with self._mapped():
            await self._client.ping()

    async def _insert(self, meta: ModelMeta, meta_text: str, blob: bytes, checksum: str) -> None:
        keys = [_model_key(meta.model_id), _name_key(meta.name), MODELS, SEQ]
        args: list[Any] = [
            meta.model_id,
            meta_text,
            blob,
            meta.name,
            repr(meta.created_at),
            checksum,
        ]
        with self._mapped():
            outcome = await self._put(keys=keys, args=args)
        verdict = outcome[0].decode()
        if verdict == "name":
            raise NameTaken(meta.name, outcome[1].decode())
        if verdict == "exists":
            raise StoreError(f"model {meta.model_id} is already stored; models are immutable")

    async def _fetch(self, model_id: str, tensors: bool) -> Row | None:
        with self._mapped():
            values: Any = await self._client.hmget(_model_key(model_id), _fields(tensors))
        return None if values[0] is None else _row(0, model_id, values)

    async def _lookup_name(self, name: str) -> str | None:
        with self._mapped():
            holder: Any = await self._client.get(_name_key(name))
        return None if holder is None else holder.decode()

    async def _remove(self, model_id: str) -> tuple[str, float, str | bytes] | None:
        keys = [_model_key(model_id), MODELS, STREAM]
        args: list[Any] = [model_id, _name_key(""), STREAM_KEEP]
        with self._mapped():
            removed: Any = await self._delete(keys=keys, args=args)
        if removed is None:
            return None
        name, created_at, meta = removed
        try:
            when = float(created_at)
        except ValueError:
            when = 0.0
        return name.decode("utf-8", "replace"), when, meta

    async def _scan(
        self, bound: int, limit: int, prefix: str, newest_first: bool, tensors: bool
    ) -> list[Row]:
        if prefix:
            chosen = await self._by_prefix(bound, limit, prefix, newest_first)
        else:
            chosen = await self._range(bound, limit, newest_first)
        values = await self._hmget_each([mid for _, mid in chosen], _fields(tensors))
        return [
            _row(seq, model_id, got) for (seq, model_id), got in zip(chosen, values, strict=True)
        ]

    async def _by_prefix(
        self, bound: int, limit: int, prefix: str, newest_first: bool
    ) -> list[tuple[int, str]]:
        """Up to limit (seq, id) whose name starts with prefix, strictly past bound.

        The walk runs in Redis, a bounded stretch per call: linear in the models passed
        over, fine for thousands; a lexical index of names would be the next step.
        """
        cursor: Any = f"({bound}" if bound else ("+inf" if newest_first else "-inf")
        chosen: list[tuple[int, str]] = []
        while len(chosen) < limit:
            want = limit - len(chosen)
            args = [cursor, want, prefix, SCAN_BUDGET, _model_key(""), int(newest_first)]
            with self._mapped():
                found, cursor, exhausted = await self._page_by_prefix(keys=[MODELS], args=args)
            chosen += [(int(found[i + 1]), found[i].decode()) for i in range(0, len(found), 2)]
            if exhausted:
                break
        return chosen

    async def _hmget_each(self, model_ids: list[str], fields: list[str]) -> list[list[Any]]:
        """HMGET fields of each model hash, in one round trip."""
        if not model_ids:
            return []
        with self._mapped():
            async with self._client.pipeline(transaction=False) as pipe:
                for model_id in model_ids:
                    pipe.hmget(_model_key(model_id), fields)
                return list(await pipe.execute())

    async def _range(self, bound: int, count: int, newest_first: bool) -> list[tuple[int, str]]:
        """Up to count (seq, id) entries of the models zset strictly past bound."""
        got: Any
        with self._mapped():
            if newest_first:
                top = f"({bound}" if bound else "+inf"
                got = await self._client.zrevrangebyscore(
                    MODELS, top, "-inf", start=0, num=count, withscores=True
                )
            else:
                got = await self._client.zrangebyscore(
                    MODELS, f"({bound}", "+inf", start=0, num=count, withscores=True
                )
        return [(int(score), member.decode()) for member, score in got]

    async def _count(self) -> int:
        with self._mapped():
            return int(await self._client.zcard(MODELS))

    def invalidations(self) -> AsyncIterator[str]:
        """Ids deleted by any process (this one too), read from the stream from the position
        open() took; FORGET_ALL when that position is gone (trimmed, or Redis lost data)."""
        return deleted_ids(self._client, STREAM, self._position, self._closed)
