"""Manual backprop: closed-form gradients of the batched net into preallocated buffers, no autograd.

Forward and backward write into buffers allocated once (out= and in-place ops), so a step of a
tiny net costs about twenty torch calls whatever the number of restarts.
"""

from __future__ import annotations

import torch

from gatenet.server.training.network import Params
from gatenet.server.training.optim import FlatAdam, FlatSGD
from gatenet.server.training.sampling import Feed
from gatenet.server.training.spec import Recipe

_ACTIVATE = {
    "sigmoid": torch.Tensor.sigmoid_,
    "tanh": torch.Tensor.tanh_,
    "relu": torch.Tensor.relu_,
}


class ManualEngine:
    """Trains all restarts with explicit gradient formulas and a flat-buffer optimizer."""

    def __init__(self, params: Params, feed: Feed, recipe: Recipe) -> None:
        self.params, self.feed = params, feed
        self.activation, self.loss = recipe.activation, recipe.loss
        loss, reduction, lr = recipe.loss, recipe.reduction, recipe.learning_rate
        r, n = params.restarts, feed.rows_per_step
        dtype = params.flat.dtype
        self.grad = torch.zeros_like(params.flat)
        self.grad_w, self.grad_b = params.views(self.grad)
        # acts[i] is layer i's input: acts[0] the rows, acts[i > 0] hidden outputs.
        self.acts = [feed.x] + [torch.empty(r, n, fo, dtype=dtype) for _, fo in params.shapes[:-1]]
        self.acts_t = [a.transpose(1, 2) for a in self.acts]
        self.weights_t = [w.transpose(1, 2) for w in params.weights]
        # deltas[i] = dLoss/d(pre-activation output of layer i); tmp[i] holds act'(...) terms.
        self.deltas = [torch.empty(r, n, fo, dtype=dtype) for _, fo in params.shapes]
        self.tmp = [torch.empty_like(d) for d in self.deltas]
        self.mask = [torch.empty(d.shape, dtype=torch.bool) for d in self.deltas]
        self.logits = torch.empty(r, n, 1, dtype=dtype)
        self.prob = torch.empty_like(self.logits)
        # dLoss/dlogit = (p - y) for bce, 2 (p - y) p (1 - p) for mse; times 1/n for mean.
        self.scale = (2.0 if loss == "mse" else 1.0) / (n if reduction == "mean" else 1)
        scale = params.scale_buffer(recipe.learning_rate_scale)
        if recipe.optimizer == "adam":
            self.opt: FlatAdam | FlatSGD = FlatAdam(params.flat, self.grad, lr, scale=scale)
        else:
            self.opt = FlatSGD(params.flat, self.grad, lr, recipe.momentum, scale=scale)

    def compute_gradients(self) -> None:
        """Forward on the current feed rows, then backward into self.grad."""
        params, acts, deltas = self.params, self.acts, self.deltas
        last = len(params.shapes) - 1
        activate = _ACTIVATE[self.activation]
        for i in range(last):
            torch.baddbmm(params.biases[i], acts[i], params.weights[i], out=acts[i + 1])
            activate(acts[i + 1])
        torch.baddbmm(params.biases[last], acts[last], params.weights[last], out=self.logits)
        p, d = self.prob, deltas[last]
        torch.sigmoid(self.logits, out=p)
        torch.sub(p, self.feed.y, out=d)
        if self.loss == "mse":
            t = self.tmp[last]
            torch.mul(p, p, out=t)
            torch.sub(p, t, out=t)
            d.mul_(t)
        if self.scale != 1.0:
            d.mul_(self.scale)
        for i in range(last, -1, -1):
            torch.bmm(self.acts_t[i], deltas[i], out=self.grad_w[i])
            torch.sum(deltas[i], dim=1, keepdim=True, out=self.grad_b[i])
            if i:
                self._backprop(i)

    def _backprop(self, i: int) -> None:
        """deltas[i-1] = (deltas[i] @ W_i^T) * act'(acts[i]), written in place."""
        d, a, t = self.deltas[i - 1], self.acts[i], self.tmp[i - 1]
        torch.bmm(self.deltas[i], self.weights_t[i], out=d)
        if self.activation == "tanh":  # 1 - a^2
            torch.mul(a, a, out=t)
            d.addcmul_(d, t, value=-1.0)
        elif self.activation == "sigmoid":  # a (1 - a)
            torch.mul(a, a, out=t)
            torch.sub(a, t, out=t)
            d.mul_(t)
        else:  # relu: 0 where the unit is off (torch's convention at 0 too)
            m = self.mask[i - 1]
            torch.le(a, 0, out=m)
            d.masked_fill_(m, 0.0)

    def run(self, steps: int) -> None:
        """Run a number of training steps."""
        feed_next, grads, update = self.feed.next, self.compute_gradients, self.opt.step
        for _ in range(steps):
            feed_next()
            grads()
            update()
