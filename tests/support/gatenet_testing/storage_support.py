"""Helpers for the store tests: records with known content, and a real redis-server."""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from gatenet.server.storage import ModelMeta, ModelRecord, Store, open_store
from gatenet_testing.serve_process import RedisServer, find_redis_server, free_port

__all__ = ["RedisServer", "find_redis_server", "free_port"]


def make_record(name: str = "", seed: int | None = None, created_at: float = 1.7e9) -> ModelRecord:
    """A record shaped like a trained net; seed fixes the id and every value."""
    rng = np.random.default_rng(seed)
    model_id = uuid.uuid4().hex if seed is None else rng.bytes(16).hex()
    document: dict[str, Any] = {
        "recipe": {"task": "xor", "hidden_sizes": [4], "seed": seed, "lr": 0.1},
        "summary": {"fits": True, "note": 'ünïcode ✓ \u2028 and "quotes"'},
        "loss_curve": [float(x) for x in rng.random(20)],
        "num_inputs": 2,
        "activation": "tanh",
    }
    tensors = {
        "layers.0.weight": rng.standard_normal((2, 4)).astype(np.float32),
        "layers.0.bias": rng.standard_normal(4).astype(np.float32),
        "layers.1.weight": rng.standard_normal((4, 1)).astype(np.float32),
        "layers.1.bias": np.array([-0.0], dtype=np.float32),
    }
    return ModelRecord(ModelMeta(model_id, name, created_at, document), tensors)


def assert_same(got: ModelRecord | None, want: ModelRecord) -> None:
    """got is want, tensors bit for bit."""
    assert got is not None
    assert got.meta == want.meta
    assert got.tensors.keys() == want.tensors.keys()
    for key, value in want.tensors.items():
        assert got.tensors[key].dtype == np.float32
        assert got.tensors[key].shape == value.shape
        assert got.tensors[key].tobytes() == value.tobytes(), key


async def check_prefix_pages(store: Store, count: int = 60) -> None:
    """Page through random names (with % and _) by many prefixes and sizes, before and after
    deleting half of them; every listing must equal the plain filter, in put order."""
    rng = random.Random(7)
    names = ["".join(rng.choice("ab%_") for _ in range(rng.randint(0, 4))) for _ in range(count)]
    names = list(dict.fromkeys(names))  # unique, first-seen order
    ids = []
    for name in names:
        record = make_record(name)
        await store.put(record)
        ids.append(record.meta.model_id)
    for round_ in range(2):
        for prefix in ["", "a", "b%", "_", "ab", "%_a", "zz"]:
            for size in (1, 3, 50):
                seen, token = [], ""
                while True:
                    metas, token = await store.page(token, size, prefix)
                    seen += [m.name for m in metas]
                    if not token:
                        break
                assert seen == [n for n in names if n.startswith(prefix)], (round_, prefix, size)
        for model_id in ids[::2]:
            await store.delete(model_id)
        names = names[1::2]
        ids = ids[1::2]


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
