"""Per-restart losses on the sigmoid output, shared by the autograd method and the fit checks."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_row(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-row loss [R, rows] from output logits; bce from logits so it never takes log(0)."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, y.expand_as(logits), reduction="none")
    if loss == "mse":  # (p - y)^2, as torch.nn.MSELoss
        return (torch.sigmoid(logits) - y).square()
    raise ValueError(f"unknown loss {loss!r}")  # resolve() rejects these first


def per_restart(logits: torch.Tensor, y: torch.Tensor, loss: str, reduction: str) -> torch.Tensor:
    """Loss of each restart [R] over its rows, reduced by mean or sum."""
    rows = per_row(logits, y, loss)
    return rows.mean(dim=1) if reduction == "mean" else rows.sum(dim=1)


def errors(logits: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
    """The perceptron's loss [R]: rows it gets wrong with a Heaviside output, g(0) = 0."""
    wrong = ((logits > 0) != (y > 0.5)).to(logits.dtype)
    return wrong.mean(dim=1) if reduction == "mean" else wrong.sum(dim=1)
