"""Autograd method: torch autograd on the batched parameters with a torch.optim optimizer."""

from __future__ import annotations

from typing import Any

import torch

from gatenet.server.training import losses
from gatenet.server.training.network import ACTIVATIONS, Params
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Recipe
from gatenet.vocabulary.layers import parameter_names


class AutogradEngine:
    """Trains all restarts with autograd; losses summed over restarts keep gradients apart."""

    def __init__(self, params: Params, feed: Feed, recipe: Recipe) -> None:
        self.params, self.feed = params, feed
        self.activation, self.loss, self.reduction = (
            recipe.activation,
            recipe.loss,
            recipe.reduction,
        )
        lr = recipe.learning_rate
        # The leaves are views of the flat buffer, so the optimizer updates it in place.
        self.leaves = [
            t.requires_grad_()
            for pair in zip(params.weights, params.biases, strict=True)
            for t in pair
        ]
        scales = recipe.learning_rate_scale or {}
        names = parameter_names(len(params.shapes))
        # One group per tensor when some learning rate is scaled; else one group, as before.
        groups: list[Any] = (
            [
                {"params": [leaf], "lr": lr * scales.get(name, 1.0)}
                for name, leaf in zip(names, self.leaves, strict=True)
            ]
            if scales
            else self.leaves
        )
        if recipe.optimizer == "adam":
            self.opt: torch.optim.Optimizer = torch.optim.Adam(groups, lr=lr, foreach=True)
        else:
            self.opt = torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, foreach=True)

    def loss_total(self) -> torch.Tensor:
        """Sum over restarts of each restart's loss on the current feed rows (with a graph)."""
        a = self.feed.x
        params, act = self.params, ACTIVATIONS[self.activation]
        last = len(params.shapes) - 1
        for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
            a = torch.baddbmm(b, a, w)
            if i < last:
                a = act(a)
        per = losses.per_restart(a[:, :, 0], self.feed.y[:, :, 0], self.loss, self.reduction)
        return per.sum()

    def run(self, steps: int) -> None:
        """Run a number of training steps."""
        for _ in range(steps):
            self.feed.next()
            self.opt.zero_grad()
            self.loss_total().backward()
            self.opt.step()
