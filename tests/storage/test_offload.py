"""Which records a put encodes on the codec thread: large tensors or a long document."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from gatenet.server.storage import ModelRecord, base, open_store
from gatenet_testing.storage_support import assert_same, make_record


def _record(tensor_floats: int, document_values: int) -> ModelRecord:
    """make_record's record with a tensor of tensor_floats and a document of ~that many values."""
    record = make_record(seed=5)
    document = {**record.meta.document, "loss_curve": [0.5] * document_values}
    tensors = {**record.tensors, "extra": np.ones(tensor_floats, np.float32)}
    return ModelRecord(dataclasses.replace(record.meta, document=document), tensors)


@pytest.mark.parametrize(
    ("tensor_floats", "document_values", "thread"),
    [
        (0, 20, "MainThread"),  # a trained gate: on the loop
        (15_000, 20, "MainThread"),  # 60 KB of tensors
        (0, 4_000, "MainThread"),
        (17_000, 20, "gatenet-codec"),  # 68 KB of tensors
        (0, 5_000, "gatenet-codec"),  # a long loss curve, tiny tensors
        (10_000, 2_500, "gatenet-codec"),  # neither alone, both together
    ],
)
async def test_a_large_record_is_encoded_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tensor_floats: int,
    document_values: int,
    thread: str,
) -> None:
    threads: list[str] = []
    encode = base._encode

    def spy(record: ModelRecord) -> tuple[str, bytes, str]:
        threads.append(threading.current_thread().name)
        return encode(record)

    monkeypatch.setattr(base, "_encode", spy)
    record = _record(tensor_floats, document_values)
    store = open_store("memory", tmp_path)
    await store.open()
    try:
        await store.put(record)
        assert_same(await store.get(record.meta.model_id), record)
    finally:
        await store.close()
    assert [name.split("_")[0] for name in threads] == [thread]
