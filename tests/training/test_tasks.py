"""Tasks: gate truth tables, truth tables and examples, and their error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gatenet.server.errors import InvalidArgument
from gatenet.server.training.spec import Limits
from gatenet.server.training.tasks import examples_task, gate_task, truth_table_task
from gatenet.vocabulary.gates import GATE_NAMES, table_inputs

LIMITS = Limits()


def targets(name: str, n: int = 0) -> list[int]:
    return gate_task(name, n, LIMITS).targets.astype(int).tolist()


def test_rows_are_in_order_with_the_first_input_most_significant() -> None:
    assert table_inputs(2).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert table_inputs(3)[1].tolist() == [0, 0, 1]
    assert table_inputs(3)[4].tolist() == [1, 0, 0]
    assert table_inputs(3).dtype == np.float32


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AND", [0, 0, 0, 1]),
        ("OR", [0, 1, 1, 1]),
        ("NAND", [1, 1, 1, 0]),
        ("NOR", [1, 0, 0, 0]),
        ("XOR", [0, 1, 1, 0]),
        ("XNOR", [1, 0, 0, 1]),
        ("IMPLY", [1, 1, 0, 1]),  # x1 -> x2
        ("NIMPLY", [0, 0, 1, 0]),  # x1 and not x2
        ("NOT", [1, 0]),
        ("BUFFER", [0, 1]),
    ],
)
def test_gate_truth_tables_at_natural_arity(name: str, expected: list[int]) -> None:
    data = gate_task(name, 0, LIMITS)
    assert targets(name) == expected
    assert (data.kind, data.label) == ("gate", name.lower())
    assert data.inputs.shape == (len(expected), 1 if name in ("NOT", "BUFFER") else 2)


def test_gate_names_are_case_insensitive_and_all_listed() -> None:
    assert targets("xor") == targets("Xor") == targets("XOR")
    assert set(GATE_NAMES) == {
        "and",
        "or",
        "nand",
        "nor",
        "xor",
        "xnor",
        "not",
        "buffer",
        "imply",
        "nimply",
    }


def test_n_ary_xor_is_parity_and_and_needs_all() -> None:
    rows = table_inputs(3)
    assert targets("xor", 3) == [int(r.sum()) % 2 for r in rows]
    assert targets("xnor", 3) == [1 - int(r.sum()) % 2 for r in rows]
    assert targets("and", 3) == [0] * 7 + [1]
    assert targets("nor", 4) == [1] + [0] * 15


def test_unknown_gate_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument) as err:
        gate_task("FOO", 0, LIMITS)
    assert err.value.field == "gate.name"
    assert "'FOO' is not a gate" in str(err.value)
    assert "AND" in str(err.value) and "NIMPLY" in str(err.value)


@pytest.mark.parametrize(("name", "n"), [("NOT", 2), ("IMPLY", 3), ("XOR", 1), ("BUFFER", 5)])
def test_gate_arity_outside_what_the_gate_takes(name: str, n: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        gate_task(name, n, LIMITS)
    assert err.value.field == "gate.num_inputs"
    assert str(n) in str(err.value)


def test_gate_arity_above_the_table_limit_names_the_limit() -> None:
    with pytest.raises(InvalidArgument, match="13 exceeds the limit 12") as err:
        gate_task("and", 13, LIMITS)
    assert err.value.field == "gate.num_inputs"
    assert gate_task("and", 3, Limits(max_table_inputs=3)).rows == 8
    with pytest.raises(InvalidArgument, match="4 exceeds the limit 3"):
        gate_task("and", 4, Limits(max_table_inputs=3))


def test_truth_table() -> None:
    data = truth_table_task(2, [0, 1, 1, 0], LIMITS)
    assert (data.kind, data.label) == ("truth_table", "table2")
    assert data.targets.tolist() == [0, 1, 1, 0]
    assert data.inputs.tolist() == table_inputs(2).tolist()


def test_truth_table_wrong_length_names_the_expected_length() -> None:
    with pytest.raises(InvalidArgument) as err:
        truth_table_task(3, [0, 1, 1, 0], LIMITS)
    assert err.value.field == "truth_table.outputs"
    assert "has 4 values" in str(err.value) and "need exactly 8" in str(err.value)


def test_truth_table_values_must_be_bits() -> None:
    with pytest.raises(InvalidArgument, match="2 is not 0 or 1") as err:
        truth_table_task(2, [0, 1, 2, 0], LIMITS)
    assert err.value.field == "truth_table.outputs[2]"


@pytest.mark.parametrize(
    ("n", "message"), [(0, "below the minimum 1"), (13, "exceeds the limit 12")]
)
def test_truth_table_input_bounds(n: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as err:
        truth_table_task(n, [0, 1], LIMITS)
    assert err.value.field == "truth_table.num_inputs"


def test_examples_are_row_major() -> None:
    data = examples_task(3, [1, 2, 3, 4, 5, 6], [1, 0], LIMITS)
    assert data.inputs.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert data.targets.tolist() == [1, 0]
    assert (data.kind, data.label, data.num_inputs, data.rows) == ("examples", "examples", 3, 2)
    assert data.inputs.dtype == np.float32 and data.targets.dtype == np.float32


@pytest.mark.parametrize(
    ("num_inputs", "inputs", "ys", "field", "message"),
    [
        (2, [0.0, math.nan, 1.0, 1.0], [0, 1], "examples.inputs[1]", "nan is not finite"),
        (2, [0.0, 1.0, math.inf, 1.0], [0, 1], "examples.inputs[2]", "inf is not finite"),
        (2, [0.0, 1.0, 1e300, 1.0], [0, 1], "examples.inputs[2]", "not finite"),
        (2, [], [], "examples.inputs", "is empty"),
        (2, [0.0, 1.0, 1.0], [0], "examples.inputs", "not a multiple of num_inputs 2"),
        (2, [0.0, 1.0, 1.0, 0.0], [0], "examples.targets", "2 rows need 2"),
        (2, [0.0, 1.0, 1.0, 0.0], [0, 0.5], "examples.targets[1]", "0.5 is not 0 or 1"),
        (2, [0.0, 1.0, 1.0, 0.0], [0, math.nan], "examples.targets[1]", "nan is not 0 or 1"),
        (0, [0.0], [0], "examples.num_inputs", "below the minimum 1"),
        (65, [0.0] * 65, [0], "examples.num_inputs", "65 exceeds the limit 64"),
    ],
)
def test_bad_examples(
    num_inputs: int, inputs: list[float], ys: list[float], field: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        examples_task(num_inputs, inputs, ys, LIMITS)
    assert err.value.field == field
    assert message in str(err.value)


def test_too_many_example_rows_names_the_limit() -> None:
    limits = Limits(max_rows=3)
    with pytest.raises(InvalidArgument, match="4 rows exceed the limit 3") as err:
        examples_task(1, [0, 1, 0, 1], [0, 1, 0, 1], limits)
    assert err.value.field == "examples.inputs"
