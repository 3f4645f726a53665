"""SGD (momentum) and Adam on one flat parameter buffer: a handful of in-place ops per step.

The update formulas are torch.optim's (dampening 0, no weight decay; Adam betas 0.9, 0.999,
eps 1e-8) so the manual method follows the same trajectory as the autograd one.
"""

from __future__ import annotations

import torch


class FlatSGD:
    """p -= lr * g, or with momentum: buf = momentum * buf + g; p -= lr * buf."""

    def __init__(
        self,
        flat: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        momentum: float,
        scale: torch.Tensor | None = None,
    ) -> None:
        self.flat, self.grad, self.lr, self.momentum = flat, grad, lr, momentum
        self.buf = torch.zeros_like(flat) if momentum else None
        self.scale = scale  # per-parameter lr factors, or None
        self.tmp = torch.empty_like(flat) if scale is not None else None

    def step(self) -> None:
        """Apply one update from the gradient buffer."""
        if self.buf is None:
            step = self.grad
        else:
            # torch.optim.SGD starts buf at g; momentum * 0 + g is the same thing.
            step = self.buf.mul_(self.momentum).add_(self.grad)
        if self.scale is not None and self.tmp is not None:
            step = torch.mul(step, self.scale, out=self.tmp)
        self.flat.add_(step, alpha=-self.lr)


class FlatAdam:
    """Adam exactly as torch.optim.Adam's single-tensor path computes it."""

    def __init__(
        self,
        flat: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        scale: torch.Tensor | None = None,
    ) -> None:
        self.flat, self.grad, self.lr, self.eps = flat, grad, lr, eps
        self.scale = scale  # per-parameter lr factors, or None
        self.beta1, self.beta2 = betas
        self.m = torch.zeros_like(flat)
        self.v = torch.zeros_like(flat)
        self.denom = torch.empty_like(flat)
        self.t = 0

    def step(self) -> None:
        """Apply one update from the gradient buffer."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m.lerp_(self.grad, 1 - b1)
        self.v.mul_(b2).addcmul_(self.grad, self.grad, value=1 - b2)
        torch.sqrt(self.v, out=self.denom)
        self.denom.div_((1 - b2**self.t) ** 0.5).add_(self.eps)
        if self.scale is not None:  # m / denom x scale: a factor 0 leaves a tensor untouched
            self.denom.div_(self.scale)
        self.flat.addcdiv_(self.m, self.denom, value=-self.lr / (1 - b1**self.t))
