"""Rosenblatt's perceptron rule, batched: W += lr * x^T (y - g(xW + b)), g(0) = 0 (seed 001)."""

from __future__ import annotations

import torch

from gatenet.server.training.network import Params
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Recipe


class PerceptronEngine:
    """Trains a single-layer perceptron per restart on each step's feed rows."""

    def __init__(self, params: Params, feed: Feed, recipe: Recipe) -> None:
        self.params, self.feed, self.lr = params, feed, recipe.learning_rate
        r, n = params.restarts, feed.rows_per_step
        dtype = params.flat.dtype
        self.grad = torch.zeros_like(params.flat)
        (self.grad_w,), (self.grad_b,) = params.views(self.grad)
        self.x_t = feed.x.transpose(1, 2)
        self.logits = torch.empty(r, n, 1, dtype=dtype)
        self.step_out = torch.empty_like(self.logits)
        self.err = torch.empty_like(self.logits)
        self.zero = torch.zeros((), dtype=dtype)
        # Seed 001 sums the full-batch update (w += dot(y - y_pred, x)); mean divides by n.
        self.scale = 1.0 / n if recipe.reduction == "mean" else 1.0
        self.lr_scale = params.scale_buffer(recipe.learning_rate_scale)  # per parameter, or None

    def run(self, steps: int) -> None:
        """Run a number of perceptron updates."""
        (w,), (b,) = self.params.weights, self.params.biases
        flat, grad, alpha = self.params.flat, self.grad, self.lr * self.scale
        for _ in range(steps):
            self.feed.next()
            torch.baddbmm(b, self.feed.x, w, out=self.logits)
            torch.heaviside(self.logits, self.zero, out=self.step_out)
            torch.sub(self.feed.y, self.step_out, out=self.err)
            torch.bmm(self.x_t, self.err, out=self.grad_w)
            torch.sum(self.err, dim=1, keepdim=True, out=self.grad_b)
            if self.lr_scale is not None:
                grad.mul_(self.lr_scale)
            flat.add_(grad, alpha=alpha)
