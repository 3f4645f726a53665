"""The family step and its rolling batch: the manual engine's maths for every recipe a family
takes, the same fit table as the chunked engine, and every function settled when the family
is larger than one batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gatenet.server.training.family import batch, npn, rolling, step
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.search import FamilyPlan, at_width, train_family
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import truth_table_task

LIMITS = Limits()
EVERY = 1 << 20  # a capacity no family reaches: one batch


def recipe(n: int, hidden: int, **options: Any):
    spec = TrainSpec(
        truth_table_task(n, [0] * (1 << n), LIMITS),
        hidden_sizes=(hidden,) if hidden else (),
        restarts=options.pop("restarts", 4),
        seed=0,
        **options,
    )
    return resolve(spec, LIMITS)


@pytest.mark.parametrize(
    "options",
    [
        {},  # the default: tanh, bce, mean, Adam
        {"activation": "sigmoid", "loss": "mse", "reduction": "sum"},
        {"activation": "relu", "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.5},
        {"optimizer": "sgd", "learning_rate": 1.0},
        {"learning_rate_scale": {"layers.0.bias": 0.0, "layers.1.weight": 0.25}},
    ],
)
def test_the_family_step_follows_the_manual_engine(options: dict[str, Any]) -> None:
    # 25 steps without early stop: every function's weights follow the same trajectory.
    rec = recipe(3, 3, steps=25, early_stop=False, check_every=5, **options)
    targets = tbl.all_tables(3)[::7]
    want = batch.train_tables(targets, rec)
    got = rolling.train_tables(targets, rec, capacity=EVERY)
    assert got.steps == want.steps == 25
    for name, value in want.weights.items():
        np.testing.assert_allclose(got.weights[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-4, atol=1e-6)
    if "learning_rate_scale" in options:  # a frozen tensor keeps its initial value
        start = rolling.start_columns(rec, 3).numpy()
        assert (got.weights["layers.0.bias"] == start[9:12, 0]).all()


def test_width_0_is_the_manual_engine_with_no_hidden_layer() -> None:
    rec = recipe(3, 0, steps=40, early_stop=False)
    targets = tbl.all_tables(3)
    want = batch.train_tables(targets, rec)
    got = rolling.train_tables(targets, rec, capacity=EVERY)
    for name, value in want.weights.items():
        np.testing.assert_allclose(got.weights[name], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("width", [0, 2, 3])
def test_the_rolling_batch_fits_what_the_chunked_engine_fits(width: int) -> None:
    rec = at_width(recipe(3, 0), width)
    targets = tbl.all_tables(3)
    want = batch.train_tables(targets, rec)
    whole = rolling.train_tables(targets, rec, capacity=EVERY)
    assert (whole.fit == want.fit).all()
    assert whole.steps == want.steps


def test_a_family_larger_than_its_batch_settles_every_function_as_one_batch_would() -> None:
    rec = at_width(recipe(3, 0), 2)
    targets = tbl.all_tables(3)
    whole = rolling.train_tables(targets, rec, capacity=EVERY)
    settled: list[int] = []
    small = rolling.train_tables(targets, rec, capacity=10, on_check=settled.append)
    assert settled[-1] == 256 and settled == sorted(settled)
    assert np.isfinite(small.loss).all()  # every function trained and was recorded
    assert (small.fit == whole.fit).all()
    assert small.steps == whole.steps
    # Each function's run is its own, whichever slot and step it started at: the same network
    # up to float rounding, which a long run (thousands of steps) can drift from.
    fit = whole.fit
    same = np.isclose(small.margin, whole.margin, atol=1e-3)
    for name, value in whole.weights.items():
        same &= np.isclose(small.weights[name], value, rtol=1e-3, atol=1e-3).reshape(256, -1).all(1)
    assert same[fit].mean() > 0.97


def test_the_width_search_table_is_unchanged_by_the_rolling_batch() -> None:
    rec = recipe(3, 0)
    plan = FamilyPlan(tbl.all_tables(3), (0, 1, 2, 3, 4), False, rec)
    result = train_family(plan)
    assert step.supports(at_width(rec, 4))
    assert result.fit == 256 and result.fit_by_width()[0] == 104
    want = {0: 104}  # the chunked engine's table, width by width
    pending = np.flatnonzero(result.width != 0)
    for width in (1, 2, 3, 4):
        got = batch.train_tables(plan.tables[pending], at_width(rec, width))
        if got.fit.any():
            want[width] = int(got.fit.sum())
        pending = pending[~got.fit]
    assert result.fit_by_width() == want


def test_members_derived_together_are_derived_exactly_as_one_by_one() -> None:
    groups = npn.classes(3)
    rng = np.random.default_rng(0)
    k = 300
    weights = {
        "layers.0.weight": rng.normal(size=(k, 3, 5)).astype(np.float32),
        "layers.0.bias": rng.normal(size=(k, 5)).astype(np.float32),
        "layers.1.weight": rng.normal(size=(k, 5, 1)).astype(np.float32),
        "layers.1.bias": rng.normal(size=(k, 1)).astype(np.float32),
    }
    which = rng.integers(0, len(groups.transforms), k)
    together = npn.derive_each(weights, groups.transforms, which)
    for m in range(k):
        one = npn.derive({n: v[m : m + 1] for n, v in weights.items()}, groups.transforms[which[m]])
        for name, value in one.items():
            assert np.array_equal(together[name][m], value[0]), (m, name)
