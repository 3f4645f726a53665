"""Damaged records: edits made to a stopped server's SQLite file underneath it, each leaving the
record well-formed (its JSON and safetensors parse, its checksum matches) so only what the
server validates on reading can catch it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load, save

from gatenet.server.storage.checksum import record_checksum

Edit = Callable[[dict[str, Any], dict[str, np.ndarray]], None]  # changes (document, tensors)


def unknown_activation(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    doc["document"]["activation"] = "tanj"


def _renamed_key(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    tensors["layers.0.wieght"] = tensors.pop("layers.0.weight")


def _missing_bias(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    del tensors["layers.1.bias"]


def _other_shape(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    tensors["layers.0.weight"] = np.ones((3, tensors["layers.0.weight"].shape[1]), np.float32)


def _info_not_object(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    doc["document"]["info"] = "garbage"


def _info_bad_field(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    doc["document"]["info"]["summary"] = {"accuracy": "high"}


def _num_inputs_type(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    doc["document"]["num_inputs"] = "two"


def _hidden_sizes(doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    doc["document"]["info"]["spec"]["network"]["hidden_sizes"] = [7]


EDITS: dict[str, Edit] = {
    "unknown activation": unknown_activation,
    "renamed tensor": _renamed_key,
    "missing bias": _missing_bias,
    "tensor of another shape": _other_shape,
    "info not an object": _info_not_object,
    "info field of a wrong type": _info_bad_field,
    "num_inputs not a number": _num_inputs_type,
    "network disagrees with the tensors": _hidden_sizes,
}


def _db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "gatenet.db", isolation_level=None)


def _columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(models)")}


def rewrite(data: Path, model_id: str, edit: Edit) -> None:
    """Apply edit to a stored record as a well-formed one: its JSON and safetensors still parse,
    and its checksum (where the schema has one) matches the new bytes."""
    conn = _db(data)
    try:
        meta, blob = conn.execute(
            "SELECT meta, tensors FROM models WHERE model_id = ?", (model_id,)
        ).fetchone()
        doc, tensors = json.loads(meta), dict(load(blob))
        edit(doc, tensors)
        new_meta, new_blob = json.dumps(doc, separators=(",", ":")), save(tensors)
        conn.execute(
            "UPDATE models SET meta = ?, tensors = ? WHERE model_id = ?",
            (new_meta, new_blob, model_id),
        )
        if "checksum" in _columns(conn):
            conn.execute(
                "UPDATE models SET checksum = ? WHERE model_id = ?",
                (record_checksum(new_meta, new_blob), model_id),
            )
    finally:
        conn.close()


def flip_bit(data: Path, model_id: str) -> None:
    """Flip one bit of the last stored weight, leaving everything else (checksum too) as it is."""
    conn = _db(data)
    try:
        (blob,) = conn.execute(
            "SELECT tensors FROM models WHERE model_id = ?", (model_id,)
        ).fetchone()
        damaged = bytearray(blob)
        damaged[-2] ^= 0x01  # a mantissa bit of a float32: still a finite number
        conn.execute("UPDATE models SET tensors = ? WHERE model_id = ?", (bytes(damaged), model_id))
    finally:
        conn.close()


def swap_tensors(data: Path, model_id: str, donor: str) -> None:
    """Store another model's (valid) tensor blob under model_id, checksum untouched."""
    conn = _db(data)
    try:
        (blob,) = conn.execute("SELECT tensors FROM models WHERE model_id = ?", (donor,)).fetchone()
        conn.execute("UPDATE models SET tensors = ? WHERE model_id = ?", (blob, model_id))
    finally:
        conn.close()
