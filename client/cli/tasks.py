"""The rows a model was trained on, rebuilt from its resolved spec (for plots)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

# The server's gate rules (GateTask.name): boolean input matrix [rows, n] -> boolean targets.
_GATES: dict[str, Callable[[np.ndarray], Any]] = {
    "and": lambda x: x.all(axis=1),
    "or": lambda x: x.any(axis=1),
    "nand": lambda x: ~x.all(axis=1),
    "nor": lambda x: ~x.any(axis=1),
    "xor": lambda x: x.sum(axis=1) % 2 == 1,  # parity
    "xnor": lambda x: x.sum(axis=1) % 2 == 0,
    "not": lambda x: ~x[:, 0],
    "buffer": lambda x: x[:, 0],
    "imply": lambda x: ~x[:, 0] | x[:, 1],
    "nimply": lambda x: x[:, 0] & ~x[:, 1],
}


def table_inputs(num_inputs: int) -> np.ndarray:
    """All 2^n 0/1 rows in the proto's order 00..0, 00..1, ... (first input most significant)."""
    rows = np.arange(2**num_inputs)[:, None]
    shifts = np.arange(num_inputs - 1, -1, -1)[None, :]
    return ((rows >> shifts) & 1).astype(np.float32)


def training_rows(spec: Mapping[str, Any], num_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows [m, n], 0/1 targets [m]) of a gate, truth table or examples spec."""
    if "gate" in spec:
        rule = _GATES.get(str(spec["gate"].get("name", "")).lower())
        if rule is None:
            raise ValueError(f"unknown gate {spec['gate'].get('name')!r}")
        rows = table_inputs(num_inputs)
        return rows, rule(rows.astype(bool)).astype(np.float32)
    if "truth_table" in spec:
        outputs = np.asarray(spec["truth_table"].get("outputs", []), dtype=np.float32)
        return table_inputs(num_inputs), outputs
    if "examples" in spec:
        examples = spec["examples"]
        inputs = np.asarray(examples.get("inputs", []), dtype=np.float32)
        return inputs.reshape(-1, num_inputs), np.asarray(examples["targets"], dtype=np.float32)
    raise ValueError("the model's spec names no task")
