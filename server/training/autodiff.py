"""Autograd method: torch autograd on the batched parameters with a torch.optim optimizer."""

from __future__ import annotations

from typing import Any

import torch

from gatenet.server.training import losses
from gatenet.server.training.network import ACTIVATIONS, Params
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Recipe
from gatenet.vocabulary.layers import bias_name, weight_name


class AutogradEngine:
    """Trains all restarts with autograd; losses summed over restarts keep gradients apart."""

    def __init__(self, params: Params, feed: Feed, recipe: Recipe) -> None:
        self.params, self.feed = params, feed
        self.activation, self.loss, self.reduction = (
            recipe.activation,
            recipe.loss,
            recipe.reduction,
        )
        lr, scales = recipe.learning_rate, recipe.learning_rate_scale
        # The leaves are views of the flat buffer, so the optimizer updates it in place. A
        # tensor with a learning-rate factor is a parameter group of its own (lr x factor); a
        # frozen one (factor 0) is no leaf at all: no gradient, never written.
        groups: dict[float, list[torch.Tensor]] = {}
        self.leaves: list[torch.Tensor] = []  # layer by layer, weight before bias
        for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
            for name, t in ((weight_name(i), w), (bias_name(i), b)):
                rate = lr * scales.get(name, 1.0)
                if rate:
                    self.leaves.append(t.requires_grad_())
                    groups.setdefault(rate, []).append(t)
        param_groups: list[dict[str, Any]] = [
            {"params": leaves, "lr": rate} for rate, leaves in groups.items()
        ]
        if recipe.optimizer == "adam":
            self.opt: torch.optim.Optimizer = torch.optim.Adam(param_groups, lr=lr, foreach=True)
        else:
            self.opt = torch.optim.SGD(param_groups, lr=lr, momentum=recipe.momentum, foreach=True)

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
