"""Manual backprop against torch autograd as the oracle (float64), and the flat optimizers."""

from __future__ import annotations

import itertools

import pytest
import torch

from gatenet.server.training.autodiff import AutogradEngine
from gatenet.server.training.manual import ManualEngine
from gatenet.server.training.network import Params, initialise, layer_shapes
from gatenet.server.training.recipe import resolve
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import truth_table_task
from gatenet.vocabulary.layers import ACTIVATIONS

F64 = torch.float64
DATA = truth_table_task(3, [0, 1, 1, 0, 1, 0, 0, 1], Limits())
X = torch.from_numpy(DATA.inputs).to(F64)
Y = torch.from_numpy(DATA.targets).to(F64)


def build(cls: type, hidden: tuple[int, ...], activation: str, loss: str, reduction: str, **kw):
    """An engine on 3 restarts drawn from fixed seeds, in float64."""
    schedule = kw.pop("schedule", "full_batch")
    gens = [torch.Generator().manual_seed(10 + k) for k in range(3)]
    params = Params(layer_shapes(3, hidden), 3, F64)
    initialise(params, kw.pop("init", "normal"), gens)
    feed = Feed(X, Y, gens, schedule, kw.pop("batch_size", 8))
    recipe = resolve(
        TrainSpec(
            DATA,
            hidden_sizes=hidden,
            activation=activation,
            loss=loss,
            reduction=reduction,
            optimizer=kw.pop("optimizer", "sgd"),
            learning_rate=kw.pop("lr", 0.5),
            momentum=kw.pop("momentum", 0.0),
            schedule=schedule,
            batch_size=feed.rows_per_step if schedule == "mini_batch" else None,
        ),
        Limits(),
    )
    return cls(params, feed, recipe)


@pytest.mark.parametrize(
    ("activation", "loss", "reduction"),
    list(itertools.product(ACTIVATIONS, ["bce", "mse"], ["mean", "sum"])),
)
@pytest.mark.parametrize("schedule", ["full_batch", "mini_batch"])
def test_manual_gradients_match_autograd(
    activation: str, loss: str, reduction: str, schedule: str
) -> None:
    hidden = (5, 3)  # two hidden layers: backprop through a hidden-to-hidden layer too
    manual = build(ManualEngine, hidden, activation, loss, reduction, schedule=schedule)
    oracle = build(AutogradEngine, hidden, activation, loss, reduction, schedule=schedule)
    manual.feed.next()
    oracle.feed.next()
    assert torch.equal(manual.feed.x, oracle.feed.x)  # same rows drawn from the same seeds
    manual.compute_gradients()
    oracle.loss_total().backward()
    got = [*manual.grad_w, *manual.grad_b]
    want = [leaf.grad for leaf in oracle.leaves[0::2] + oracle.leaves[1::2]]
    assert any(g.abs().max() > 1e-3 for g in want)  # not a vacuous comparison of zeros
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("optimizer", "momentum", "lr"), [("sgd", 0.0, 0.5), ("sgd", 0.9, 0.1), ("adam", 0.0, 0.05)]
)
def test_manual_training_follows_autograd_with_torch_optim(
    optimizer: str, momentum: float, lr: float
) -> None:
    args = ((4,), "tanh", "bce", "mean")
    kw = {"optimizer": optimizer, "momentum": momentum, "lr": lr, "schedule": "online"}
    manual = build(ManualEngine, *args, **kw)
    oracle = build(AutogradEngine, *args, **kw)
    start = manual.params.flat.clone()
    manual.run(60)
    oracle.run(60)
    assert (manual.params.flat - start).abs().max() > 0.05
    torch.testing.assert_close(manual.params.flat, oracle.params.flat.detach(), rtol=0, atol=1e-9)


def test_relu_gradient_at_zero_is_zero_like_torch() -> None:
    manual = build(ManualEngine, (4,), "relu", "bce", "sum", init="zeros")
    oracle = build(AutogradEngine, (4,), "relu", "bce", "sum", init="zeros")
    manual.compute_gradients()
    oracle.loss_total().backward()
    assert torch.equal(manual.grad_w[0], oracle.leaves[0].grad)
    assert not manual.grad_w[0].any()  # every unit is at 0, so nothing flows back through it
