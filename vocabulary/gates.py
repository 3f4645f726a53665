"""The named gates (GateTask.name) and the row order of every truth table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Gate:
    """A named gate: how many inputs it takes and its rule."""

    fewest: int  # inputs at the least
    most: int | None  # inputs at the most; None: as many as a truth table may have
    natural: int  # inputs when a request names none (num_inputs 0)
    rule: Callable[[np.ndarray], Any]  # bool rows [m, n] -> bool targets [m]


# Lower-case names; the wire's are case-insensitive.
GATES: dict[str, Gate] = {
    "and": Gate(2, None, 2, lambda x: x.all(axis=1)),
    "or": Gate(2, None, 2, lambda x: x.any(axis=1)),
    "nand": Gate(2, None, 2, lambda x: ~x.all(axis=1)),
    "nor": Gate(2, None, 2, lambda x: ~x.any(axis=1)),
    "xor": Gate(2, None, 2, lambda x: x.sum(axis=1) % 2 == 1),  # parity
    "xnor": Gate(2, None, 2, lambda x: x.sum(axis=1) % 2 == 0),
    "not": Gate(1, 1, 1, lambda x: ~x[:, 0]),
    "buffer": Gate(1, 1, 1, lambda x: x[:, 0]),
    "imply": Gate(2, 2, 2, lambda x: ~x[:, 0] | x[:, 1]),
    "nimply": Gate(2, 2, 2, lambda x: x[:, 0] & ~x[:, 1]),
}
GATE_NAMES = tuple(GATES)


def gate(name: str) -> Gate | None:
    """The gate a name means (any case, surrounding spaces ignored); None for no gate."""
    return GATES.get(name.strip().lower())


def table_inputs(num_inputs: int) -> np.ndarray:
    """All 2^n 0/1 rows as float32 in the wire's order 00..0, 00..1, ... (first input = MSB)."""
    rows = np.arange(2**num_inputs)[:, None]
    shifts = np.arange(num_inputs - 1, -1, -1)[None, :]
    return ((rows >> shifts) & 1).astype(np.float32)


def gate_targets(rule: Gate, inputs: np.ndarray) -> np.ndarray:
    """The gate's 0/1 float32 target for each 0/1 row of inputs."""
    return np.asarray(rule.rule(inputs.astype(bool)), dtype=np.float32)
