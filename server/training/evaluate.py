"""Fit checks: every restart's loss, accuracy, margin and whether it fits, on all rows at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gatenet.server.training import losses
from gatenet.server.training.network import Params, forward_logits
from gatenet.server.training.spec import Recipe


@dataclass(frozen=True)
class Check:
    """Per-restart results [R] of one fit check."""

    loss: torch.Tensor  # the spec's loss and reduction over all rows; NaN replaced by +inf
    fit: torch.Tensor  # bool: every row right with the margin
    margin: torch.Tensor  # min over rows of the signed distance of p from 0.5 (negative = wrong)
    accuracy: torch.Tensor  # fraction of rows with (p > 0.5) == label, as Predict labels them


class Evaluator:
    """Checks all restarts on every row; label-1 rows need p >= 0.5 + margin and p > 0.5."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, recipe: Recipe) -> None:
        # y [rows] is every restart's target; y [R, rows] gives each its own (a family).
        self.x, self.y = x, y.view(1, -1) if y.dim() == 1 else y
        self.positive = self.y > 0.5
        self.sign = self.y * 2 - 1  # +1 for label 1, -1 for label 0
        self.activation, self.loss, self.reduction = (
            recipe.activation,
            recipe.loss,
            recipe.reduction,
        )
        self.margin, self.perceptron = recipe.margin, recipe.method == "perceptron"

    def __call__(self, params: Params) -> Check:
        """One check of every restart's current parameters."""
        with torch.no_grad():
            logits = forward_logits(params.weights, params.biases, self.x, self.activation)
            if self.perceptron:
                loss = losses.errors(logits, self.y, self.reduction)
            else:
                loss = losses.per_restart(logits, self.y, self.loss, self.reduction)
            p = torch.sigmoid(logits)
            signed = (p - 0.5) * self.sign
            if self.margin > 0:
                rows_ok = signed >= self.margin
            else:  # p = 0.5 exactly is label 0 when served (label = p > 0.5), as g(0) = 0
                rows_ok = (signed > 0) | ((signed == 0) & ~self.positive)
            correct = (p > 0.5) == self.positive
            return Check(
                loss=torch.nan_to_num(loss, nan=float("inf")),
                fit=rows_ok.all(dim=1),
                margin=torch.nan_to_num(signed.amin(dim=1), nan=-0.5),
                accuracy=correct.to(p.dtype).mean(dim=1),
            )

    @staticmethod
    def best(check: Check) -> int:
        """The restart to keep: the lowest loss among those that fit, else the lowest loss."""
        loss = torch.where(check.fit, check.loss, torch.inf) if check.fit.any() else check.loss
        return int(torch.argmin(loss))
