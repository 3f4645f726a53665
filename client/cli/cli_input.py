"""Parsing what the CLI reads: comma-separated rows, CSV files, hidden sizes, weights JSON."""

from __future__ import annotations

import csv
import json
from typing import Any

import numpy as np


class InputError(ValueError):
    """A flag value or input file the CLI cannot use (a usage error, exit 2)."""


def _fields(text: str, what: str) -> list[str]:
    """The comma-separated values of text; an empty one is an error, never skipped."""
    parts = text.split(",")
    for i, part in enumerate(parts):
        if not part.strip():
            raise InputError(f"{what}: {text!r}: value {i} is empty")
    return parts


def numbers(text: str, what: str) -> list[float]:
    """ "0,1,1" -> [0.0, 1.0, 1.0]."""
    parts = _fields(text, what)
    try:
        return [float(v) for v in parts]
    except ValueError:
        raise InputError(f"{what}: {text!r} is not comma-separated numbers") from None


def hidden_sizes(text: str) -> list[int]:
    """ "4" -> [4], "4,4" -> [4, 4], "none" -> [] (no hidden layer)."""
    if text.strip().lower() == "none":
        return []
    parts = _fields(text, "--hidden")
    try:
        sizes = [int(v) for v in parts]
    except ValueError:
        raise InputError(f"--hidden: {text!r} is not sizes like 4 or 4,4 or none") from None
    if any(size < 1 for size in sizes):
        raise InputError(
            f"--hidden: {text!r}: a layer needs at least 1 unit; for no hidden layer give"
            " --hidden none"
        )
    return sizes


def row_indices(text: str) -> list[int]:
    """ "0,3,1,2" -> [0, 3, 1, 2]: dataset rows, in the order to visit them."""
    parts = _fields(text, "--row-order")
    try:
        return [int(v) for v in parts]
    except ValueError:
        raise InputError(f"--row-order: {text!r} is not row indices like 0,3,1,2") from None


def truth_table(text: str) -> list[int]:
    """ "0,1,1,0" (or "0110") -> [0, 1, 1, 0]."""
    parts = _fields(text, "--table") if "," in text else list(text.strip())
    try:
        return [int(v) for v in parts]
    except ValueError:
        raise InputError(f"--table: {text!r} is not 0/1 outputs like 0,1,1,0") from None


def csv_rows(path: str) -> np.ndarray:
    """A numeric CSV as a 2-D float32 array; a non-numeric first line is a header."""
    try:
        with open(path, newline="") as f:
            lines = [
                (n, row)
                for n, row in enumerate(csv.reader(f), start=1)
                if row and not row[0].lstrip().startswith("#")
            ]
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    rows: list[list[float]] = []
    for n, row in lines:
        try:
            rows.append([float(v) for v in row])
        except ValueError:
            if n == lines[0][0]:
                continue  # a header line
            raise InputError(f"{path}:{n}: {','.join(row)!r} is not numbers") from None
        if len(rows[-1]) != len(rows[0]):
            raise InputError(f"{path}:{n}: {len(rows[-1])} values, expected {len(rows[0])}")
    if not rows:
        raise InputError(f"{path}: no rows")
    return np.asarray(rows, dtype=np.float32)


def examples(path: str) -> tuple[np.ndarray, np.ndarray]:
    """A CSV of features then the 0/1 target in the last column -> (inputs, targets)."""
    table = csv_rows(path)
    if table.shape[1] < 2:
        raise InputError(f"{path}: need at least one feature column and the target column")
    return table[:, :-1], table[:, -1]


def weights_json(path: str) -> dict[str, np.ndarray]:
    """Initial weights from {name: nested list} or what `gatenet weights --json` prints."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not JSON ({err})") from None
    if isinstance(data, dict) and isinstance(data.get("tensors"), dict):
        data = data["tensors"]  # a `gatenet weights --json` document: the rest is its spec
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected {{name: nested list}} or `gatenet weights --json`")
    return {name: _tensor(path, name, value) for name, value in data.items()}


def _tensor(path: str, name: str, value: Any) -> np.ndarray:
    """A nested list, or {"shape", "values"} (flat, row-major), as a float32 array."""
    try:
        if isinstance(value, dict):
            return np.asarray(value["values"], dtype=np.float32).reshape(value["shape"])
        return np.asarray(value, dtype=np.float32)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: {name}: not a tensor ({err})") from None


def width_range(text: str) -> tuple[int, int]:
    """--widths "0-8" (or one width "3") as (0, 8)."""
    low, _, high = text.strip().partition("-")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        raise InputError(f"--widths: {text!r} is not A-B, e.g. 0-8") from None
    if pair[0] < 0 or pair[0] > pair[1]:
        raise InputError(f"--widths: {text!r} needs 0 <= A <= B")
    return pair


def lr_scales(text: str) -> dict[str, float]:
    """--lr-scale "layers.0.bias=0,layers.1.bias=0.25" as {name: factor}."""
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = None
        if not sep or not name or factor is None:
            raise InputError(f"--lr-scale: {item.strip()!r} is not NAME=FACTOR")
        out[name] = factor
    return out
