"""A second process for the sqlite tests: `put DIR N` or `open DIR`.

put: stores seeded records, printing "seed id" the moment each put returns.
open: tries to open the store and prints the outcome on one line.
"""

from __future__ import annotations

import asyncio
import sys

from gatenet.server.storage import StoreError, open_store
from gatenet_testing.storage_support import make_record


async def put(data_dir: str, count: int) -> None:
    store = open_store("sqlite", data_dir)
    await store.open()
    for seed in range(count):
        record = make_record(f"m{seed}", seed=seed)
        await store.put(record)
        print(seed, record.meta.model_id, flush=True)
    await store.close()


async def try_open(data_dir: str) -> None:
    store = open_store("sqlite", data_dir)
    try:
        await store.open()
    except StoreError as exc:
        print(type(exc).__name__, exc, flush=True)
        return
    print("opened", flush=True)
    await store.close()


if __name__ == "__main__":
    if sys.argv[1] == "put":
        asyncio.run(put(sys.argv[2], int(sys.argv[3])))
    else:
        asyncio.run(try_open(sys.argv[2]))
