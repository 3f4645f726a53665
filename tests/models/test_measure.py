"""The numpy measurement ImportModel uses agrees with the trainer's own fit check (torch)."""

from __future__ import annotations

import pytest

from gatenet.server.models.measure import measure
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import gate_task, truth_table_task
from gatenet.server.training.trainer import train

LIMITS = Limits()
CASES = [
    # (task, recipe fields): both losses and reductions, each activation, margins, a perceptron
    (gate_task("xor", 0, LIMITS), {"loss": "bce", "activation": "tanh", "steps": 40}),
    (gate_task("xor", 0, LIMITS), {"loss": "mse", "reduction": "sum", "activation": "sigmoid"}),
    (gate_task("nand", 3, LIMITS), {"activation": "relu", "margin": 0.0, "steps": 5}),
    (truth_table_task(3, [0, 1, 1, 0, 1, 0, 0, 1], LIMITS), {"hidden_sizes": (5, 3)}),
    (gate_task("and", 0, LIMITS), {"method": "perceptron", "steps": 3}),
]


@pytest.mark.parametrize(("dataset", "fields"), CASES)
def test_measure_agrees_with_the_trainers_last_check(dataset, fields) -> None:
    recipe = resolve(TrainSpec(dataset=dataset, seed=5, restarts=1, **fields), LIMITS)
    result = train(recipe)
    got = measure(
        result.weights,
        recipe.activation,
        (dataset.inputs, dataset.targets),
        loss=recipe.loss,
        reduction=recipe.reduction,
        margin=recipe.margin,
        perceptron=recipe.method == "perceptron",
    )
    summary = result.summary
    assert (got.fit, got.accuracy) == (summary.fit, summary.accuracy)
    assert got.final_loss == pytest.approx(summary.final_loss, rel=1e-5, abs=1e-7)
    assert got.margin_reached == pytest.approx(summary.margin_reached, abs=1e-6)
