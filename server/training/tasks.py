"""Tasks: named gates, truth tables and explicit examples, validated into a Dataset."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from gatenet.server.errors import InvalidArgument, clip
from gatenet.server.training.spec import Dataset, Limits
from gatenet.vocabulary.gates import GATE_NAMES, gate, gate_targets, table_inputs


def gate_task(name: str, num_inputs: int, limits: Limits) -> Dataset:
    """The truth table of a named gate (case-insensitive); num_inputs 0 = natural arity."""
    rule = gate(name)
    if rule is None:
        known = ", ".join(GATE_NAMES).upper()
        raise InvalidArgument("gate.name", f"{clip(name)!r} is not a gate; known: {known}")
    key = name.strip().upper()
    low, high = rule.fewest, rule.most
    n = rule.natural if num_inputs == 0 else int(num_inputs)
    top = limits.max_table_inputs if high is None else high
    if not low <= n <= top:
        allowed = f"exactly {low}" if low == top else f"{low}..{top}"
        if high is None and n > top:
            raise InvalidArgument("gate.num_inputs", f"{n} exceeds the limit {top} for {key}")
        raise InvalidArgument("gate.num_inputs", f"{n} is not allowed for {key}: {allowed}")
    inputs, targets = _gate_table(key.lower(), n)
    # Copies: a few bytes each, and no caller can change the table the next one gets.
    return Dataset(kind="gate", label=key.lower(), inputs=inputs.copy(), targets=targets.copy())


@functools.lru_cache(maxsize=64)
def _gate_table(label: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A gate's rows and targets, built once per arity: every Train of a gate asks for them."""
    rule = gate(label)
    assert rule is not None  # gate_task checked the name
    inputs = table_inputs(n)
    return inputs, gate_targets(rule, inputs)


def truth_table_task(num_inputs: int, outputs: Sequence[int], limits: Limits) -> Dataset:
    """Any boolean function of n inputs given by its 2^n outputs in row order."""
    n = int(num_inputs)
    if n < 1:
        raise InvalidArgument("truth_table.num_inputs", f"{n} is below the minimum 1")
    if n > limits.max_table_inputs:
        raise InvalidArgument(
            "truth_table.num_inputs", f"{n} exceeds the limit {limits.max_table_inputs}"
        )
    values = np.asarray(outputs, dtype=np.float64).reshape(-1)
    if values.size != 2**n:
        raise InvalidArgument(
            "truth_table.outputs",
            f"has {values.size} values; {n} inputs need exactly {2**n} (2^{n})",
        )
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        i = int(bad[0])
        raise InvalidArgument(f"truth_table.outputs[{i}]", f"{values[i]:g} is not 0 or 1")
    return Dataset(
        kind="truth_table",
        label=f"table{n}",
        inputs=table_inputs(n),
        targets=values.astype(np.float32),
    )


def examples_task(
    num_inputs: int,
    inputs_flat: Sequence[float] | np.ndarray,
    targets: Sequence[float] | np.ndarray,
    limits: Limits,
) -> Dataset:
    """Explicit rows (row-major, finite) with one 0/1 target each."""
    n = int(num_inputs)
    if n < 1:
        raise InvalidArgument("examples.num_inputs", f"{n} is below the minimum 1")
    if n > limits.max_features:
        raise InvalidArgument("examples.num_inputs", f"{n} exceeds the limit {limits.max_features}")
    # float32 first: a float64 that overflows float32 must count as Inf too.
    with np.errstate(over="ignore"):
        flat = np.asarray(inputs_flat, dtype=np.float64).reshape(-1).astype(np.float32)
        ys = np.asarray(targets, dtype=np.float64).reshape(-1).astype(np.float32)
    if flat.size == 0:
        raise InvalidArgument("examples.inputs", "is empty; at least one row is needed")
    if flat.size % n:
        raise InvalidArgument(
            "examples.inputs", f"has {flat.size} values, not a multiple of num_inputs {n}"
        )
    rows = flat.size // n
    if rows > limits.max_rows:
        raise InvalidArgument("examples.inputs", f"{rows} rows exceed the limit {limits.max_rows}")
    bad = np.flatnonzero(~np.isfinite(flat))
    if bad.size:
        i = int(bad[0])
        raise InvalidArgument(f"examples.inputs[{i}]", f"{flat[i]} is not finite")
    if ys.size != rows:
        raise InvalidArgument("examples.targets", f"has {ys.size} values; {rows} rows need {rows}")
    bad = np.flatnonzero((ys != 0) & (ys != 1))
    if bad.size:
        i = int(bad[0])
        raise InvalidArgument(f"examples.targets[{i}]", f"{ys[i]:g} is not 0 or 1")
    return Dataset(kind="examples", label="examples", inputs=flat.reshape(rows, n), targets=ys)
