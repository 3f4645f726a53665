"""Batched network parameters: layer shapes, one flat buffer per run, initialisation, forward."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from gatenet.server.training.shapes import Shape, layer_shapes, parameter_count
from gatenet.vocabulary.layers import bias_name, weight_name

__all__ = ["Params", "initialise", "forward_logits", "layer_shapes"]


class Params:
    """R restarts' parameters as views of one flat buffer: W_i [R, in, out], b_i [R, 1, out]."""

    def __init__(self, shapes: Sequence[Shape], restarts: int, dtype: torch.dtype) -> None:
        self.shapes = list(shapes)
        self.restarts = restarts
        # One flat buffer lets an optimizer update every parameter with a handful of ops.
        self.flat = torch.zeros(restarts * parameter_count(shapes), dtype=dtype)
        self.weights, self.biases = self.views(self.flat)

    def views(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Weight and bias views of any buffer laid out like self.flat (e.g. its gradient)."""
        r, off = self.restarts, 0
        weights, biases = [], []
        for fi, fo in self.shapes:
            weights.append(flat[off : off + r * fi * fo].view(r, fi, fo))
            off += r * fi * fo
            biases.append(flat[off : off + r * fo].view(r, 1, fo))
            off += r * fo
        return weights, biases

    def scale_buffer(self, scales: dict[str, float] | None) -> torch.Tensor | None:
        """Each parameter's learning-rate factor, laid out like self.flat; None if all are 1."""
        if not scales:
            return None
        flat = torch.ones_like(self.flat)
        weights, biases = self.views(flat)
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            w.fill_(scales.get(weight_name(i), 1.0))
            b.fill_(scales.get(bias_name(i), 1.0))
        return flat

    def restart_weights(self, k: int) -> dict[str, np.ndarray]:
        """Restart k's parameters as float32 numpy arrays named layers.{i}.weight / .bias."""
        # Sliced from one numpy view of the buffer, laid out as in views(): a torch op per
        # tensor would cost more than the copy of a small network, on every Train's answer.
        flat, r, off = self.flat.detach().numpy(), self.restarts, 0
        out: dict[str, np.ndarray] = {}
        for i, (fi, fo) in enumerate(self.shapes):
            weights = flat[off : off + r * fi * fo].reshape(r, fi, fo)
            off += r * fi * fo
            biases = flat[off : off + r * fo].reshape(r, fo)
            off += r * fo
            out[weight_name(i)] = np.array(weights[k], dtype=np.float32)
            out[bias_name(i)] = np.array(biases[k], dtype=np.float32)
        return out


def _draw(init: str, fi: int, fo: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's (weight [fi, fo], bias [fo]) for one restart, drawn from its generator."""
    zeros = torch.zeros(fo)
    if init == "uniform":  # seed 000: torch.rand for weight, then bias
        return torch.rand(fi, fo, generator=gen), torch.rand(fo, generator=gen)
    if init == "normal":
        return torch.randn(fi, fo, generator=gen), torch.randn(fo, generator=gen)
    if init == "scaled_normal":  # seed 002: randn / sqrt(fan_in), zero bias
        return torch.randn(fi, fo, generator=gen) / math.sqrt(fi), zeros
    if init == "xavier":  # drawn as nn.init.xavier_uniform_ on an nn.Linear weight [fo, fi]
        bound = math.sqrt(6.0 / (fi + fo))
        return torch.empty(fo, fi).uniform_(-bound, bound, generator=gen).T, zeros
    if init == "torch_default":
        # nn.Linear.reset_parameters: weight [fo, fi] then bias, both U(+-1/sqrt(fan_in)), so a
        # seeded run matches torch.manual_seed(s); nn.Sequential(nn.Linear(...), ...).
        bound = 1.0 / math.sqrt(fi)
        w = torch.empty(fo, fi).uniform_(-bound, bound, generator=gen).T
        return w, torch.empty(fo).uniform_(-bound, bound, generator=gen)
    if init == "zeros":
        return torch.zeros(fi, fo), zeros
    raise ValueError(f"unknown init {init!r}")  # resolve() rejects these first


def initialise(
    params: Params,
    init: str,
    gens: Sequence[torch.Generator],
    initial: dict[str, np.ndarray] | None = None,
) -> None:
    """Fill every restart: explicit initial weights if given, else restart k draws from gens[k]."""
    with torch.no_grad():
        for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
            if initial is not None:
                w.copy_(torch.from_numpy(initial[weight_name(i)]).expand_as(w))
                b.copy_(torch.from_numpy(initial[bias_name(i)]).expand_as(b))
        if initial is not None:
            return
        for k, gen in enumerate(gens):
            # Layer by layer in input order, weight before bias: the order torch modules use.
            for (fi, fo), w, b in zip(params.shapes, params.weights, params.biases, strict=True):
                dw, db = _draw(init, fi, fo, gen)
                w[k].copy_(dw)
                b[k, 0].copy_(db)


def forward_logits(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    activation: str,
) -> torch.Tensor:
    """Output logits [R, rows] of every restart on rows x [rows, F] (allocating; for checks)."""
    r = weights[0].shape[0]
    a = x.expand(r, *x.shape)
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        a = torch.baddbmm(b, a, w)
        if i < last:
            a = ACTIVATIONS[activation](a)
    return a[:, :, 0]


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}
