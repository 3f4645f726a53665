"""resolve(): defaults filled in, and every bad field named with its value and bound."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from gatenet.server.errors import InvalidArgument
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import examples_task, gate_task, truth_table_task

LIMITS = Limits()
XOR = gate_task("xor", 0, LIMITS)


def spec(**fields: Any) -> TrainSpec:
    return TrainSpec(dataset=fields.pop("dataset", XOR), **fields)


def rejects(field: str, *fragments: str, limits: Limits = LIMITS, **fields: Any) -> None:
    with pytest.raises(InvalidArgument) as err:
        resolve(spec(**fields), limits)
    assert err.value.field == field, str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_resolve_fills_every_field() -> None:
    out = resolve(spec(), LIMITS)
    unset = [f.name for f in dataclasses.fields(out) if getattr(out, f.name) is None]
    # None: explicit starts, orders and per-tensor scales only
    assert unset == ["initial_weights", "row_order", "learning_rate_scale"]
    assert out.method == "manual" and out.optimizer == "adam" and out.activation == "tanh"
    assert out.hidden_sizes == (4,) and out.schedule == "full_batch" and out.batch_size == 4
    assert out.early_stop is True and 0 < out.margin < 0.5 and out.restarts > 1
    assert isinstance(out.seed, int) and out.seed >= 0


def test_a_random_seed_is_chosen_and_given_ones_are_kept() -> None:
    seeds = {resolve(spec(), LIMITS).seed for _ in range(5)}
    assert len(seeds) > 1
    assert resolve(spec(seed=42), LIMITS).seed == 42


def test_hidden_width_grows_with_inputs() -> None:
    three = truth_table_task(3, [0, 1, 1, 0, 1, 0, 0, 1], LIMITS)
    assert resolve(spec(dataset=three), LIMITS).hidden_sizes == (6,)
    assert resolve(spec(hidden_sizes=()), LIMITS).hidden_sizes == ()
    wide = examples_task(40, [0.0] * 40 + [1.0] * 40, [0, 1], LIMITS)
    assert resolve(spec(dataset=wide), LIMITS).hidden_sizes == (24,)


def test_perceptron_defaults_are_seed_001s_rule() -> None:
    out = resolve(spec(method="perceptron"), LIMITS)
    assert out.hidden_sizes == () and out.learning_rate == 1.0 and out.init == "zeros"
    assert out.schedule == "full_batch" and out.reduction == "sum" and out.optimizer == "sgd"
    assert out.margin == 0.0 and out.restarts == 1


def test_sgd_gets_its_own_default_rate_and_mini_batch_a_batch_size() -> None:
    assert resolve(spec(optimizer="sgd"), LIMITS).learning_rate == 1.0
    big = truth_table_task(6, [i % 3 == 0 for i in range(64)], LIMITS)
    assert resolve(spec(dataset=big, schedule="mini_batch"), LIMITS).batch_size == 32
    assert resolve(spec(schedule="mini_batch"), LIMITS).batch_size == 4
    assert resolve(spec(schedule="online"), LIMITS).batch_size == 1


def test_explicit_weights_default_to_one_restart() -> None:
    w = {
        "layers.0.weight": np.zeros((2, 4)),
        "layers.0.bias": np.zeros(4),
        "layers.1.weight": np.zeros((4, 1)),
        "layers.1.bias": np.zeros(1),
    }
    out = resolve(spec(hidden_sizes=(4,), initial_weights=w), LIMITS)
    assert out.restarts == 1
    assert out.initial_weights is not None
    assert all(a.dtype == np.float32 for a in out.initial_weights.values())


@pytest.mark.parametrize(
    ("fields", "field", "fragments"),
    [
        ({"hidden_sizes": (4, 100000)}, "network.hidden_sizes[1]", ["100000", "limit 1024"]),
        ({"hidden_sizes": (0,)}, "network.hidden_sizes[0]", ["0 is below the minimum 1"]),
        ({"hidden_sizes": (2,) * 9}, "network.hidden_sizes", ["9 layers", "limit 8"]),
        ({"hidden_sizes": (1024, 1024)}, "network.hidden_sizes", ["1053697", "limit 1000000"]),
        ({"activation": "gelu"}, "network.activation", ["'gelu'", "sigmoid, tanh, relu"]),
        ({"method": "magic"}, "method", ["'magic'", "autograd"]),
        ({"loss": "hinge"}, "loss", ["'hinge'", "bce, mse"]),
        ({"reduction": "max"}, "reduction", ["'max'"]),
        ({"optimizer": "lbfgs"}, "optimizer", ["'lbfgs'", "sgd, adam"]),
        ({"schedule": "cyclic"}, "schedule", ["'cyclic'"]),
        ({"init": "he"}, "init", ["'he'", "xavier"]),
        ({"learning_rate": 0.0}, "learning_rate", ["0.0 is not a positive"]),
        ({"learning_rate": -1.0}, "learning_rate", ["-1.0"]),
        ({"learning_rate": math.nan}, "learning_rate", ["nan"]),
        ({"learning_rate": math.inf}, "learning_rate", ["inf"]),
        ({"learning_rate": 5000.0}, "learning_rate", ["5000.0 exceeds the limit 1000.0"]),
        ({"optimizer": "sgd", "momentum": 1.0}, "momentum", ["1.0 is outside [0, 1)"]),
        ({"optimizer": "sgd", "momentum": -0.1}, "momentum", ["-0.1"]),
        ({"momentum": 0.9}, "momentum", ["sgd only"]),
        ({"margin": 0.5}, "margin", ["0.5 is outside [0, 0.5)"]),
        ({"margin": -0.01}, "margin", ["-0.01"]),
        ({"margin": math.nan}, "margin", ["nan"]),
        ({"schedule": "mini_batch", "batch_size": 5}, "batch_size", ["5 is outside 1..4"]),
        ({"schedule": "mini_batch", "batch_size": 0}, "batch_size", ["0 is outside 1..4"]),
        ({"batch_size": 2}, "batch_size", ["full_batch uses 4 rows"]),
        ({"schedule": "online", "batch_size": 3}, "batch_size", ["online uses 1 rows"]),
        ({"steps": 0}, "steps", ["0 is below the minimum 1"]),
        ({"steps": 1_000_001}, "steps", ["1000001 exceeds the limit 1000000"]),
        ({"restarts": 0}, "restarts", ["below the minimum 1"]),
        ({"restarts": 1025}, "restarts", ["1025 exceeds the limit 1024"]),
        ({"check_every": 0}, "check_every", ["below the minimum 1"]),
        ({"seed": -1}, "seed", ["-1 is outside"]),
        ({"seed": 2**64 - 3, "restarts": 4}, "seed", ["2^64"]),
        ({"method": "perceptron", "hidden_sizes": (2,)}, "network.hidden_sizes", ["perceptron"]),
        ({"method": "perceptron", "optimizer": "adam"}, "optimizer", ["'adam'", "perceptron"]),
        (
            {"method": "perceptron", "optimizer": "sgd", "momentum": 0.5},
            "momentum",
            ["perceptron"],
        ),
    ],
)
def test_bad_fields_are_named_with_value_and_bound(
    fields: dict[str, Any], field: str, fragments: list[str]
) -> None:
    rejects(field, *fragments, **fields)


def test_the_batched_size_of_a_run_is_bounded() -> None:
    limits = Limits(max_batch_elements=10_000)
    resolve(spec(restarts=100), limits)  # 100 x (17 parameters + 4 rows x 5 units) = 3700
    rejects("restarts", "1000 restarts", "exceeds the limit 10000", limits=limits, restarts=1000)


def test_batch_size_limit() -> None:
    big = truth_table_task(6, [i % 3 == 0 for i in range(64)], LIMITS)
    limits = Limits(max_batch_size=16)
    fields = {"dataset": big, "schedule": "mini_batch", "batch_size": 17}
    rejects("batch_size", "17 exceeds the limit 16", limits=limits, **fields)


def good_weights() -> dict[str, np.ndarray]:
    return {
        "layers.0.weight": np.ones((2, 3)),
        "layers.0.bias": np.ones(3),
        "layers.1.weight": np.ones((3, 1)),
        "layers.1.bias": np.ones(1),
    }


@pytest.mark.parametrize(
    ("change", "field", "fragments"),
    [
        (
            {"layers.0.weight": np.ones((3, 2))},
            "initial_weights[layers.0.weight]",
            ["[3, 2]", "[2, 3]"],
        ),
        ({"layers.1.bias": np.ones((1, 1))}, "initial_weights[layers.1.bias]", ["[1, 1]", "[1]"]),
        (
            {"layers.0.bias": np.array([1.0, math.nan, 1.0])},
            "initial_weights[layers.0.bias]",
            ["NaN"],
        ),
        (
            {"layers.1.weight": np.full((3, 1), math.inf)},
            "initial_weights[layers.1.weight]",
            ["Inf"],
        ),
        (
            {"layers.2.weight": np.ones((1, 1))},
            "initial_weights[layers.2.weight]",
            ["not a parameter"],
        ),
        ({"layers.1.bias": None}, "initial_weights", ["layers.1.bias is missing"]),
        ({"layers.0.weight": [[1.0, 2.0], [3.0]]}, "initial_weights[layers.0.weight]", ["numeric"]),
    ],
)
def test_bad_initial_weights(change: dict[str, Any], field: str, fragments: list[str]) -> None:
    weights = good_weights()
    for name, value in change.items():
        if value is None:
            del weights[name]
        else:
            weights[name] = value
    rejects(field, *fragments, hidden_sizes=(3,), initial_weights=weights)
