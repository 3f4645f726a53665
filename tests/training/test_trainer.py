"""train(): determinism, batched restarts, honest results, cancellation, progress."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pytest
import torch

from gatenet.server.errors import Cancelled
from gatenet.server.training.autodiff import AutogradEngine
from gatenet.server.training.manual import ManualEngine
from gatenet.server.training.network import Params, initialise, layer_shapes
from gatenet.server.training.recipe import resolve
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Limits, Progress, TrainSpec
from gatenet.server.training.tasks import gate_task, truth_table_task
from gatenet.server.training.trainer import train, warm_up
from gatenet.vocabulary.layers import bias_name, weight_name

LIMITS = Limits()
XOR = gate_task("xor", 0, LIMITS)
TABLE3 = truth_table_task(3, [0, 1, 1, 1, 0, 0, 1, 0], LIMITS)


def run(dataset=XOR, **fields: Any):
    return train(resolve(TrainSpec(dataset=dataset, **fields), LIMITS))


def same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray], atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(np.allclose(a[k], b[k], rtol=0, atol=atol) for k in a)


def test_result_weights_are_named_float32_x_at_w() -> None:
    result = run(seed=1, hidden_sizes=(3, 2))
    shapes = {name: a.shape for name, a in result.weights.items()}
    assert list(shapes) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "layers.2.weight",
        "layers.2.bias",
    ]
    assert shapes["layers.0.weight"] == (2, 3) and shapes["layers.2.bias"] == (1,)
    assert all(a.dtype == np.float32 for a in result.weights.values())
    # Recompute the served probabilities from the weights: x @ W + b, tanh, sigmoid output.
    a = XOR.inputs
    for i in range(3):
        a = a @ result.weights[weight_name(i)] + result.weights[bias_name(i)]
        a = np.tanh(a) if i < 2 else 1 / (1 + np.exp(-a))
    assert result.summary.fit and ((a[:, 0] > 0.5) == (XOR.targets > 0.5)).all()
    assert result.summary.margin_reached == pytest.approx(np.min(np.abs(a - 0.5)), abs=1e-5)


@pytest.mark.parametrize("method", ["manual", "autograd", "perceptron"])
@pytest.mark.parametrize("schedule", ["full_batch", "online", "mini_batch"])
def test_same_spec_and_seed_give_identical_weights(method: str, schedule: str) -> None:
    fields = {"method": method, "schedule": schedule, "seed": 7, "steps": 40}
    if method == "perceptron":
        fields["init"] = "normal"
    a, b = run(TABLE3, **fields), run(TABLE3, **fields)
    assert same_weights(a.weights, b.weights)
    assert a.summary == dataclasses.replace(b.summary, train_seconds=a.summary.train_seconds)


@pytest.mark.parametrize(
    ("method", "schedule", "optimizer"),
    [
        ("manual", "full_batch", "adam"),
        ("manual", "online", "sgd"),
        ("manual", "mini_batch", "adam"),
        ("autograd", "mini_batch", "sgd"),
        ("autograd", "online", "adam"),
        ("perceptron", "online", "sgd"),
    ],
)
def test_restart_k_of_seed_s_is_the_run_with_seed_s_plus_k(
    method: str, schedule: str, optimizer: str
) -> None:
    fields = {
        "method": method,
        "schedule": schedule,
        "optimizer": optimizer,
        "init": "normal",
        "steps": 60,
        "early_stop": False,
        "margin": 0.49,  # nothing fits, so the kept restart is the lowest loss
    }
    batched = run(TABLE3, seed=100, restarts=6, **fields)
    k = batched.summary.restart_index
    single = run(TABLE3, seed=100 + k, restarts=1, **fields)
    assert batched.summary.seed_used == single.summary.seed_used == 100 + k
    assert same_weights(batched.weights, single.weights, atol=1e-6)
    assert batched.summary.final_loss == pytest.approx(single.summary.final_loss, abs=1e-6)


@pytest.mark.parametrize(
    ("engine", "schedule"), [(ManualEngine, "online"), (AutogradEngine, "mini_batch")]
)
def test_every_restart_of_a_batch_matches_its_single_run(engine: type, schedule: str) -> None:
    def trained(seed: int, restarts: int) -> Params:
        gens = [torch.Generator().manual_seed(seed + k) for k in range(restarts)]
        params = Params(layer_shapes(3, (4,)), restarts, torch.float32)
        initialise(params, "xavier", gens)
        x, y = torch.from_numpy(TABLE3.inputs), torch.from_numpy(TABLE3.targets)
        feed = Feed(x, y, gens, schedule, 3)
        batch = 3 if schedule == "mini_batch" else None
        recipe = resolve(TrainSpec(TABLE3, schedule=schedule, batch_size=batch, seed=seed), LIMITS)
        engine(params, feed, recipe).run(50)
        return params

    batch = trained(20, 5)
    for k in range(5):
        single = trained(20 + k, 1)
        for name, value in single.restart_weights(0).items():
            np.testing.assert_allclose(batch.restart_weights(k)[name], value, rtol=0, atol=1e-6)


def test_early_stop_keeps_a_fitting_restart_and_reports_it() -> None:
    result = run(seed=11)
    assert result.summary.fit and result.summary.accuracy == 1.0
    assert 1 <= result.summary.restarts_fit <= result.summary.restarts
    assert result.summary.steps < 200 and result.summary.steps % 10 == 0
    assert result.summary.margin_reached >= 0.4
    assert result.summary.seed_used == 11 + result.summary.restart_index
    assert result.summary.train_seconds > 0


def test_not_fitting_is_reported_honestly() -> None:
    # XOR is not linearly separable: no hidden layer can never fit it.
    result = run(seed=0, hidden_sizes=(), steps=30)
    assert result.summary.fit is False and result.summary.restarts_fit == 0
    assert result.summary.steps == 30
    assert result.summary.accuracy <= 0.75
    assert result.summary.margin_reached <= 0.0
    assert result.summary.final_loss > 0.3


def test_perceptron_cannot_fit_xor_either() -> None:
    result = run(method="perceptron", steps=50)
    assert (
        result.summary.fit is False and result.summary.steps == 50 and result.summary.accuracy < 1.0
    )


def test_loss_curve_is_sampled_and_ends_at_the_last_step() -> None:
    result = run(seed=0, steps=3000, early_stop=False, check_every=1, hidden_sizes=(2,))
    steps = [s for s, _ in result.loss_curve]
    assert 10 <= len(steps) <= 100
    assert steps[0] == 0 and steps[-1] == 3000 and steps == sorted(steps)
    assert result.loss_curve[-1][1] == pytest.approx(result.summary.final_loss)
    assert result.loss_curve[-1][1] < result.loss_curve[0][1]


def test_cancellation_raises_promptly_with_the_step() -> None:
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    spec = resolve(TrainSpec(XOR, seed=0, steps=1_000_000, early_stop=False), LIMITS)
    with pytest.raises(Cancelled, match=r"training cancelled at step [1-9]\d*$"):
        train(spec, should_stop=should_stop)
    assert calls == 4


def test_cancellation_before_the_first_step() -> None:
    spec = resolve(TrainSpec(XOR, seed=0), LIMITS)
    with pytest.raises(Cancelled, match="at step 0"):
        train(spec, should_stop=lambda: True)


def test_progress_is_reported_at_fit_checks() -> None:
    events: list[Progress] = []
    spec = resolve(TrainSpec(XOR, seed=0, steps=50, early_stop=False, restarts=5), LIMITS)
    result = train(spec, on_progress=events.append)
    assert [e.step for e in events] == [0, 10, 20, 30, 40, 50]
    assert all(e.restarts == 5 for e in events)
    assert events[-1].best_loss <= result.summary.final_loss + 1e-7  # lowest loss among restarts
    assert events[-1].restarts_fit == result.summary.restarts_fit


def test_torch_default_init_is_nn_linear_under_the_same_seed() -> None:
    spec = resolve(
        TrainSpec(
            XOR, hidden_sizes=(2,), init="torch_default", seed=5, steps=1, learning_rate=1e-9
        ),
        LIMITS,
    )
    spec = dataclasses.replace(spec, restarts=1, optimizer="sgd")
    weights = train(spec).weights
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1))
    np.testing.assert_allclose(weights["layers.0.weight"], model[0].weight.detach().T, atol=1e-8)
    np.testing.assert_allclose(weights["layers.0.bias"], model[0].bias.detach(), atol=1e-8)
    np.testing.assert_allclose(weights["layers.1.weight"], model[2].weight.detach().T, atol=1e-8)


def test_uniform_init_draws_like_seed_000() -> None:
    spec = resolve(TrainSpec(XOR, init="uniform", seed=9, restarts=1, steps=1), LIMITS)
    spec = dataclasses.replace(spec, learning_rate=1e-12, optimizer="sgd")
    weights = train(spec).weights
    g = torch.Generator().manual_seed(9)
    w1, b1 = torch.rand(2, 4, generator=g), torch.rand(4, generator=g)
    np.testing.assert_allclose(weights["layers.0.weight"], w1, atol=1e-8)
    np.testing.assert_allclose(weights["layers.0.bias"], b1, atol=1e-8)


@pytest.fixture(scope="module")
def warm() -> None:
    """torch's first calls in a process cost ~1 s (lazy imports): the timed runs below must
    not pay them inside their limit, as a worker pays them before it serves."""
    warm_up()


# A step preempted on a loaded 2-core machine can end past the limit the pace predicted; the
# pool kills only at the cap + 1 s, so a run that ends this close to its limit still answers.
SLACK = 0.25


@pytest.mark.parametrize(
    ("method", "schedule"),
    [("manual", "full_batch"), ("autograd", "online"), ("autograd", "mini_batch")],
)
def test_a_run_the_time_limit_stopped_is_repeated_by_its_steps(
    method: str, schedule: str, warm: None
) -> None:
    """The limit ends the run at a step no chunk of the repeat need share; same weights."""
    fields: dict[str, Any] = dict(
        dataset=TABLE3, method=method, schedule=schedule, optimizer="sgd", seed=3, restarts=4
    )
    spec = TrainSpec(steps=1_000_000, early_stop=False, check_every=7, **fields)
    capped = train(resolve(spec, LIMITS), time_limit=0.2)
    assert capped.summary.stopped_by == "time"
    assert 0 < capped.summary.steps < 1_000_000
    assert capped.summary.train_seconds <= 0.2 + SLACK
    again = run(steps=capped.summary.steps, early_stop=False, check_every=7, **fields)
    assert again.summary.stopped_by == "steps"
    assert same_weights(again.weights, capped.weights)
    assert again.loss_curve == capped.loss_curve


def test_one_slow_chunk_does_not_end_a_timed_run_early(warm: None) -> None:
    """A first step slowed by a one-off cost (here 0.3 s) must not be taken as every step's
    pace once the steps run in chunks of hundreds."""
    calls = [0]

    def one_slow_step() -> bool:
        calls[0] += 1
        if calls[0] == 2:  # right after the first step
            time.sleep(0.3)
        return False

    spec = TrainSpec(dataset=XOR, steps=1_000_000, early_stop=False, seed=1)
    result = train(resolve(spec, LIMITS), should_stop=one_slow_step, time_limit=1.5)
    assert result.summary.stopped_by == "time"
    assert 1.0 < result.summary.train_seconds <= 1.5 + SLACK


def test_a_run_leaves_the_callers_subnormal_floats_alone():
    """Training flushes subnormals to zero for its own speed, and gives them back after: a
    caller in the same thread still computes with IEEE floats."""
    tiny = 5e-324  # the smallest subnormal double
    run(XOR, steps=10)
    assert tiny * 1.0 > 0.0
    assert float(torch.tensor([1e-40]) * 1.0) > 0.0
