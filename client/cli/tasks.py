"""The rows a model was trained on, rebuilt from its resolved spec (for plots)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gatenet.vocabulary.gates import gate, gate_targets, table_inputs


def training_rows(spec: Mapping[str, Any], num_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows [m, n], 0/1 targets [m]) of a gate, truth table or examples spec."""
    if "gate" in spec:
        rule = gate(str(spec["gate"].get("name", "")))
        if rule is None:
            raise ValueError(f"unknown gate {spec['gate'].get('name')!r}")
        rows = table_inputs(num_inputs)
        return rows, gate_targets(rule, rows)
    if "truth_table" in spec:
        outputs = np.asarray(spec["truth_table"].get("outputs", []), dtype=np.float32)
        return table_inputs(num_inputs), outputs
    if "examples" in spec:
        examples = spec["examples"]
        inputs = np.asarray(examples.get("inputs", []), dtype=np.float32)
        return inputs.reshape(-1, num_inputs), np.asarray(examples["targets"], dtype=np.float32)
    raise ValueError("the model's spec names no task")
