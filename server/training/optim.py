"""SGD (momentum) and Adam on one flat parameter buffer: a handful of in-place ops per step.

The update formulas are torch.optim's (dampening 0, no weight decay; Adam betas 0.9, 0.999,
eps 1e-8) so the manual method follows the same trajectory as the autograd one. Optional
groups give regions of the buffer their own step size, as torch.optim's parameter groups do
(per-tensor learning-rate factors); a region of step 0 is frozen: never written.
"""

from __future__ import annotations

import torch

Groups = list[tuple[slice, float]]  # (region of the flat buffer, its learning rate)


def _live(groups: Groups | None, lr: float) -> Groups:
    """The regions that step (rate > 0); no groups = the whole buffer at lr."""
    return [(s, rate) for s, rate in (groups or [(slice(None), lr)]) if rate]


class FlatSGD:
    """p -= lr * g, or with momentum: buf = momentum * buf + g; p -= lr * buf."""

    def __init__(
        self,
        flat: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        momentum: float,
        groups: Groups | None = None,
    ) -> None:
        self.flat, self.grad, self.lr, self.momentum = flat, grad, lr, momentum
        self.buf = torch.zeros_like(flat) if momentum else None
        step = grad if self.buf is None else self.buf
        # Views made once: a step costs one add per region, as before for the whole buffer.
        self.parts = [(flat[s], step[s], -rate) for s, rate in _live(groups, lr)]

    def step(self) -> None:
        """Apply one update from the gradient buffer."""
        if self.buf is not None:
            # torch.optim.SGD starts buf at g; momentum * 0 + g is the same thing.
            self.buf.mul_(self.momentum).add_(self.grad)
        for param, step, alpha in self.parts:
            param.add_(step, alpha=alpha)


class FlatAdam:
    """Adam exactly as torch.optim.Adam's single-tensor path computes it."""

    def __init__(
        self,
        flat: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        groups: Groups | None = None,
    ) -> None:
        self.flat, self.grad, self.lr, self.eps = flat, grad, lr, eps
        self.beta1, self.beta2 = betas
        self.m = torch.zeros_like(flat)
        self.v = torch.zeros_like(flat)
        self.denom = torch.empty_like(flat)
        self.t = 0
        self.parts = [(flat[s], self.m[s], self.denom[s], rate) for s, rate in _live(groups, lr)]

    def step(self) -> None:
        """Apply one update from the gradient buffer."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m.lerp_(self.grad, 1 - b1)
        self.v.mul_(b2).addcmul_(self.grad, self.grad, value=1 - b2)
        torch.sqrt(self.v, out=self.denom)
        self.denom.div_((1 - b2**self.t) ** 0.5).add_(self.eps)
        correction = 1 - b1**self.t
        for param, m, denom, rate in self.parts:
            param.addcdiv_(m, denom, value=-rate / correction)
