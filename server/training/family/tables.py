"""A family's truth tables: outputs in the project's row order, as bit strings and numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gatenet.server.errors import InvalidArgument, clip

MAX_FAMILY_INPUTS = 4  # 2^(2^4) = 65,536 functions; 5 inputs would be 4.3 billion


def rows(num_inputs: int) -> int:
    """Rows of a table of n inputs (2^n)."""
    return 1 << num_inputs


def all_tables(num_inputs: int) -> np.ndarray:
    """Every function of n inputs as 0/1 outputs [2^(2^n), 2^n] uint8; function f reads as the
    binary number f from the first row to the last ("0110" is 6, XOR)."""
    m = rows(num_inputs)
    numbers = np.arange(1 << m, dtype=np.int64)[:, None]
    shifts = np.arange(m - 1, -1, -1, dtype=np.int64)[None, :]
    return ((numbers >> shifts) & 1).astype(np.uint8)


def numbers(tables: np.ndarray) -> np.ndarray:
    """Each table's function number [F] int64 (the inverse of all_tables)."""
    m = tables.shape[1]
    weights = np.int64(1) << np.arange(m - 1, -1, -1, dtype=np.int64)
    return tables.astype(np.int64) @ weights


def bits(table: np.ndarray) -> str:
    """A table as its bit string, "0110"."""
    return "".join("1" if v else "0" for v in table)


def bits_each(tables: np.ndarray) -> list[str]:
    """Every table [F, rows] as its bit string, as bits() writes it, in one pass."""
    if not len(tables):
        return []
    chars = np.where(tables != 0, np.uint8(ord("1")), np.uint8(ord("0")))
    return [b.decode() for b in np.ascontiguousarray(chars).view(f"S{tables.shape[1]}").ravel()]


def text(table: np.ndarray) -> str:
    """A table as a Train --table takes it, "0,1,1,0"."""
    return ",".join("1" if v else "0" for v in table)


def parse(value: str, num_inputs: int, field: str = "tables") -> np.ndarray:
    """A table from "0,1,1,0", "0 1 1 0" or "0110" (2^n outputs, each 0 or 1) -> uint8 [2^n]."""
    m = rows(num_inputs)
    raw = value.strip()
    parts = raw.replace(",", " ").split() if ("," in raw or " " in raw) else list(raw)
    if len(parts) != m:
        raise InvalidArgument(
            field, f"{clip(value)!r} has {len(parts)} outputs; {num_inputs} inputs need {m}"
        )
    bad = [p for p in parts if p not in ("0", "1")]
    if bad:
        raise InvalidArgument(field, f"{clip(value)!r} holds {clip(bad[0])!r}; outputs are 0 or 1")
    return np.array([int(p) for p in parts], dtype=np.uint8)


def parse_all(values: Sequence[str], num_inputs: int, limit: int) -> np.ndarray:
    """The requested tables [F, 2^n] in request order, or every function if none are given."""
    if not values:
        return all_tables(num_inputs)
    if len(values) > limit:
        raise InvalidArgument("tables", f"{len(values)} tables exceed the limit {limit}")
    tables = np.stack([parse(v, num_inputs, f"tables[{i}]") for i, v in enumerate(values)])
    _, first = np.unique(numbers(tables), return_index=True)
    if len(first) != len(values):
        dup = sorted(set(range(len(values))) - set(first.tolist()))[0]
        raise InvalidArgument(f"tables[{dup}]", f"{clip(values[dup])!r} is listed twice")
    return tables
