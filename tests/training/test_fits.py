"""The defaults fit every gate and every 2- and 3-input boolean function, on every seed tried."""

from __future__ import annotations

import random

import pytest

from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import gate_task, truth_table_task
from gatenet.server.training.trainer import train
from gatenet.vocabulary.gates import GATE_NAMES

LIMITS = Limits()
N_ARY = ("AND", "OR", "NAND", "NOR", "XOR", "XNOR")


def fits_by_default(dataset, seeds) -> list[int]:
    """The seeds on which the default recipe does not fit (expected: none)."""
    failed = []
    for seed in seeds:
        result = train(resolve(TrainSpec(dataset=dataset, seed=seed), LIMITS))
        if not (
            result.summary.fit
            and result.summary.accuracy == 1.0
            and result.summary.margin_reached >= 0.4
        ):
            failed.append(seed)
    return failed


@pytest.mark.parametrize("name", GATE_NAMES)
def test_every_gate_fits_by_default(name: str) -> None:
    assert fits_by_default(gate_task(name, 0, LIMITS), range(10)) == []


@pytest.mark.parametrize(("name", "n"), [(g, n) for g in N_ARY for n in (3, 4)])
def test_n_ary_gates_fit_by_default(name: str, n: int) -> None:
    assert fits_by_default(gate_task(name, n, LIMITS), range(3)) == []


def test_all_two_input_functions_fit_by_default() -> None:
    failed = {
        f: bad
        for f in range(16)
        if (
            bad := fits_by_default(
                truth_table_task(2, [(f >> i) & 1 for i in range(4)], LIMITS), range(5)
            )
        )
    }
    assert failed == {}


def test_a_sample_of_three_input_functions_fits_by_default() -> None:
    # The hardest ones for one restart (e.g. 0b01101010, 0b01111000) are in the sample.
    sample = sorted({106, 120, 150, 105, *random.Random(0).sample(range(256), 28)})
    failed = {}
    for f in sample:
        table = truth_table_task(3, [(f >> i) & 1 for i in range(8)], LIMITS)
        if bad := fits_by_default(table, range(3)):
            failed[f] = bad
    assert failed == {}
