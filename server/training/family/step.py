"""A training step built for families: every column shares the rows, so each layer is one GEMM.

The batch is B columns (function slot x restart), each a network of n inputs and at most one
hidden layer, laid out as one [P, B] buffer with the column last: the first layer is the matrix
W1 [n, h*B], so x [rows, n] @ W1 is a single GEMM for every column, as is its gradient
x^T @ delta; the output layer is an elementwise product and a sum over the h units. The maths
are the manual engine's (same loss, reduction, optimizer, learning-rate scales); only the order
of float rounding differs. Adam keeps a step count per column, so a column refilled with a new
function restarts its bias correction while the others go on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gatenet.server.training.spec import Recipe
from gatenet.vocabulary.gates import table_inputs
from gatenet.vocabulary.layers import bias_name, weight_name

_ACTIVATE = {
    "sigmoid": torch.Tensor.sigmoid_,
    "tanh": torch.Tensor.tanh_,
    "relu": torch.Tensor.relu_,
}
BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, as FlatAdam
EPS = 1e-8


def supports(recipe: Recipe) -> bool:
    """Whether this step computes the recipe (else the family falls back to the manual engine)."""
    return (
        recipe.method == "manual"
        and recipe.schedule == "full_batch"
        and len(recipe.hidden_sizes) <= 1
        and recipe.activation in _ACTIVATE
        and recipe.loss in ("bce", "mse")
        and recipe.optimizer in ("adam", "sgd")
    )


def row_blocks(n: int, h: int) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """(tensor name, first row, last row, per-model shape) of each tensor in the [P, B] buffer."""
    if not h:
        return [(weight_name(0), 0, n, (n, 1)), (bias_name(0), n, n + 1, (1,))]
    return [
        (weight_name(0), 0, n * h, (n, h)),
        (bias_name(0), n * h, n * h + h, (h,)),
        (weight_name(1), n * h + h, n * h + 2 * h, (h, 1)),
        (bias_name(1), n * h + 2 * h, n * h + 2 * h + 1, (1,)),
    ]


def columns_of(weights: dict[str, np.ndarray], n: int, h: int) -> np.ndarray:
    """Stacked per-model tensors {name: [k, ...]} as buffer columns [P, k]."""
    blocks = row_blocks(n, h)
    k = next(iter(weights.values())).shape[0]
    out = np.empty((blocks[-1][2], k), dtype=np.float32)
    for name, lo, hi, _ in blocks:
        out[lo:hi] = weights[name].reshape(k, hi - lo).T
    return out


def models_of(columns: np.ndarray, n: int, h: int) -> dict[str, np.ndarray]:
    """Buffer columns [P, k] as stacked per-model tensors {name: [k, ...]} (float32)."""
    k = columns.shape[1]
    return {
        name: np.ascontiguousarray(columns[lo:hi].T).reshape(k, *shape)
        for name, lo, hi, shape in row_blocks(n, h)
    }


def _corrections(lr: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam's -lr / (1 - b1^t) and sqrt(1 - b2^t) for t = 0 .. steps + 1 (float32)."""
    ts = np.arange(steps + 2, dtype=np.float64)
    b1, b2 = BETAS
    with np.errstate(divide="ignore"):  # t = 0 is never used
        step_size = torch.from_numpy((-lr / (1 - b1**ts)).astype(np.float32))
    return step_size, torch.from_numpy(((1 - b2**ts) ** 0.5).astype(np.float32))


class FamilyStep:
    """B columns' parameters, optimizer state, targets and buffers; a step is about 15 ops."""

    def __init__(
        self, recipe: Recipe, n: int, columns: int, like: FamilyStep | None = None
    ) -> None:
        h = recipe.hidden_sizes[0] if recipe.hidden_sizes else 0
        rows, b = 1 << n, columns
        self.n, self.h, self.rows, self.columns = n, h, rows, b
        self.recipe = recipe
        self.activation, self.loss = recipe.activation, recipe.loss
        self.activate = _ACTIVATE[recipe.activation]
        p = row_blocks(n, h)[-1][2]
        # The rows with a last input fixed at 1: each layer's bias rows follow its weight rows,
        # so [W; b] is one matrix and x1 @ [W; b] (and x1^T @ delta, both gradients) one GEMM.
        if like is None:
            self.x1 = torch.ones(rows, n + 1)
            self.x1[:, :n] = torch.from_numpy(table_inputs(n))
            self.x1t = self.x1.T.contiguous()
            self.neg_x1t = -self.x1t
        else:  # a smaller copy: the same rows
            self.x1, self.x1t, self.neg_x1t = like.x1, like.x1t, like.neg_x1t
        self.flat = torch.zeros(p, b)
        self.grad = torch.empty(p, b)  # written whole by every backward
        self.y = torch.zeros(rows, b)
        self.sign = torch.zeros(rows, b)  # +1 for label 1, -1 for label 0
        self.logits = torch.empty(rows, b)
        self.prob = torch.empty(rows, b)
        self.delta = torch.empty(rows, b)  # dLoss/dlogit
        self.tmp2 = torch.empty(rows, b) if recipe.loss == "mse" else self.delta
        self.scale = (2.0 if recipe.loss == "mse" else 1.0) / (
            rows if recipe.reduction == "mean" else 1
        )
        if h:
            nh = n * h
            self.wb1, self.gwb1 = (
                self.flat[: nh + h].view(n + 1, h * b),
                self.grad[: nh + h].view(n + 1, h * b),
            )
            self.w2, self.b2 = self.flat[nh + h : nh + 2 * h], self.flat[nh + 2 * h :]
            self.gw2, self.gb2 = self.grad[nh + h : nh + 2 * h], self.grad[nh + 2 * h :]
            self.act = torch.empty(rows, h * b)  # hidden outputs
            self.act3 = self.act.view(rows, h, b)
            self.tmp3 = torch.empty(rows, h, b)  # a * delta, then delta1 (or -delta1)
            self.tmp1 = self.tmp3.view(rows, h * b)
            if recipe.activation == "relu":
                self.mask = torch.empty(rows, h, b, dtype=torch.bool)
        else:
            self.wb, self.gwb = self.flat, self.grad
        self.lr_scale = self._scale_rows(recipe.learning_rate_scale)
        self.lr = recipe.learning_rate
        self.adam = recipe.optimizer == "adam"
        if self.adam:
            self.m, self.v = torch.zeros(p, b), torch.zeros(p, b)
            self.denom, self.tmp = torch.empty(p, b), torch.empty(p, b)
            # While every column is at the same step (no column refilled mid-run), one count
            # serves all and torch.optim.Adam's fused CPU kernel does the update in one pass.
            self.uniform = torch.zeros(())  # that count (float32, as the kernel takes it)
            self.fused = hasattr(torch, "_fused_adam_") and self.lr_scale is None
            self.t: torch.Tensor | None = None  # else: steps taken, per column
            # Adam's bias corrections at each step count, as FlatAdam computes them.
            tables = _corrections(self.lr, recipe.steps) if like is None else like.corrections
            self.corrections: tuple[torch.Tensor, torch.Tensor] = tables  # a copy shares them
            self.step_size, self.root2 = tables
            self.col_step, self.col_root = torch.empty(b), torch.empty(b)
        else:
            self.momentum = recipe.momentum
            self.buf = torch.zeros(p, b) if recipe.momentum else None
            self.tmp = torch.empty(p, b)

    def _scale_rows(self, scales: dict[str, float] | None) -> torch.Tensor | None:
        """Each parameter row's learning-rate factor [P, 1]; None if all are 1."""
        if not scales:
            return None
        out = torch.ones(self.flat.shape[0], 1)
        for name, lo, hi, _ in row_blocks(self.n, self.h):
            out[lo:hi] = scales.get(name, 1.0)
        return out

    def reset(self, cols: torch.Tensor, start: torch.Tensor, targets: torch.Tensor) -> None:
        """Columns `cols` (ascending) restart: parameters `start` [P, k], targets [rows, k],
        fresh optimizer state."""
        at: torch.Tensor | slice = slice(None) if len(cols) == self.columns else cols
        self.flat[:, at] = start
        self.y[:, at] = targets
        self.sign[:, at] = targets * 2 - 1
        if self.adam:
            self.m[:, at] = 0.0
            self.v[:, at] = 0.0
            if self.t is None and self.uniform.item() and len(cols) < self.columns:
                self.t = torch.full((self.columns,), int(self.uniform.item()))
            if self.t is not None:
                self.t[cols] = 0
            else:  # every column restarts
                self.uniform.zero_()
        elif self.buf is not None:
            self.buf[:, at] = 0.0

    def keep(self, cols: torch.Tensor) -> FamilyStep:
        """A smaller step holding only columns `cols`, state carried."""
        new = FamilyStep(self.recipe, self.n, len(cols), like=self)
        pairs = [(self.flat, new.flat), (self.y, new.y), (self.sign, new.sign)]
        if self.adam:
            pairs += [(self.m, new.m), (self.v, new.v)]
            if self.t is None:
                new.uniform.copy_(self.uniform)
            else:
                kept = self.t[cols]
                if bool((kept == kept[0]).all()):
                    new.uniform.fill_(int(kept[0]))
                else:
                    new.t = kept
        elif self.buf is not None and new.buf is not None:
            pairs.append((self.buf, new.buf))
        for src, dst in pairs:
            torch.index_select(src, 1, cols, out=dst)
        return new

    def forward(self) -> None:
        """Logits and probabilities of every column on every row."""
        if self.h:
            torch.mm(self.x1, self.wb1, out=self.act)
            self.activate(self.act)
            torch.mul(self.act3, self.w2, out=self.tmp3)
            torch.sum(self.tmp3, dim=1, out=self.logits)
            self.logits.add_(self.b2)
        else:
            torch.mm(self.x1, self.wb, out=self.logits)
        torch.sigmoid(self.logits, out=self.prob)

    def backward(self) -> None:
        """The gradient of the loss at the last forward, into self.grad."""
        p, d = self.prob, self.delta
        torch.sub(p, self.y, out=d)
        if self.loss == "mse":  # 2 (p - y) p (1 - p), the 2 in self.scale
            t = self.tmp2
            torch.mul(p, p, out=t)
            torch.sub(p, t, out=t)
            d.mul_(t)
        if self.scale != 1.0:
            d.mul_(self.scale)
        if not self.h:
            torch.mm(self.x1t, d, out=self.gwb)
            return
        a, t3 = self.act3, self.tmp3
        du = d.unsqueeze(1)
        torch.sum(d, dim=0, keepdim=True, out=self.gb2)
        torch.mul(a, du, out=t3)  # a * delta: summed over rows, the last layer's gradient
        torch.sum(t3, dim=0, out=self.gw2)
        # delta1 = w2 * delta * act'(a), made in place from t3 = a * delta: a third buffer of
        # this size would cost more in cache misses than its ops (4 inputs: 2x per op).
        x1t = self.x1t
        if self.activation == "tanh":  # act' = 1 - a^2: a (a delta) - delta = -(...)
            t3.mul_(a).sub_(du).mul_(self.w2)  # -delta1, so the gradient GEMM takes -x1^T
            x1t = self.neg_x1t
        elif self.activation == "sigmoid":  # act' = a (1 - a): (a delta) - a (a delta)
            t3.addcmul_(a, t3, value=-1.0).mul_(self.w2)
        else:  # relu: 0 where the unit is off (torch's convention at 0 too)
            torch.mul(du, self.w2, out=t3)
            torch.le(a, 0, out=self.mask)
            t3.masked_fill_(self.mask, 0.0)
        torch.mm(x1t, self.tmp1, out=self.gwb1)

    def update(self) -> None:
        """One optimizer step from self.grad (Adam or SGD as FlatAdam / FlatSGD compute them)."""
        g = self.grad
        if self.adam:
            b1, b2 = BETAS
            if self.t is None and self.fused:
                self.uniform.add_(1)
                torch._fused_adam_(
                    [self.flat], [g], [self.m], [self.v], [], [self.uniform],
                    amsgrad=False, lr=self.lr, beta1=b1, beta2=b2, weight_decay=0.0, eps=EPS,
                    maximize=False,
                )  # fmt: skip
                return
            if self.t is None:
                self.uniform.add_(1)
                k = int(self.uniform.item())
                self.col_step.fill_(float(self.step_size[k]))
                self.col_root.fill_(float(self.root2[k]))
            else:
                # A settled column left in the batch runs on: its count stays in the table.
                self.t.add_(1).clamp_(max=len(self.step_size) - 1)
                torch.index_select(self.step_size, 0, self.t, out=self.col_step)
                torch.index_select(self.root2, 0, self.t, out=self.col_root)
            self.m.lerp_(g, 1 - b1)
            self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
            torch.sqrt(self.v, out=self.denom)
            self.denom.div_(self.col_root).add_(EPS)
            if self.lr_scale is not None:  # a factor 0 leaves a tensor untouched
                self.denom.div_(self.lr_scale)
            torch.mul(self.m, self.col_step, out=self.tmp)
            self.flat.addcdiv_(self.tmp, self.denom)
            return
        step = g if self.buf is None else self.buf.mul_(self.momentum).add_(g)
        if self.lr_scale is not None:
            step = torch.mul(step, self.lr_scale, out=self.tmp)
        self.flat.add_(step, alpha=-self.lr)

    def run(self, steps: int, fresh: bool) -> None:
        """`steps` training steps; `fresh`: the last forward is of the current parameters."""
        forward, backward, update = self.forward, self.backward, self.update
        for i in range(steps):
            if i or not fresh:
                forward()
            backward()
            update()

    def check(self) -> tuple[np.ndarray, np.ndarray]:
        """(fit, margin) per column [B] at the last forward, as the Evaluator judges them."""
        with torch.no_grad():
            signed = (self.prob - 0.5).mul_(self.sign)  # > 0: the row is right
            low = signed.amin(dim=0)
            if self.recipe.margin > 0:
                fit = low >= self.recipe.margin
            else:  # p = 0.5 exactly is label 0 when served (label = p > 0.5)
                fit = low > 0
                if bool((low == 0).any()):
                    fit = ((signed > 0) | ((signed == 0) & (self.sign < 0))).all(dim=0)
            return fit.numpy(), torch.nan_to_num(low, nan=-0.5).numpy()

    def losses(self, cols: torch.Tensor) -> np.ndarray:
        """Columns `cols`' losses [k] at the last forward (the recipe's; NaN as +inf)."""
        with torch.no_grad():
            y, logits = self.y.index_select(1, cols), self.logits.index_select(1, cols)
            if self.loss == "bce":
                rows = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
            else:
                rows = (self.prob.index_select(1, cols) - y).square()
            loss = rows.mean(dim=0) if self.recipe.reduction == "mean" else rows.sum(dim=0)
            return torch.nan_to_num(loss, nan=float("inf")).numpy()
