"""NPN classes: functions equal up to negated inputs, permuted inputs and a negated output.

A member g of the class of representative f is g(x) = o xor f(z) with z_j = x[perm[j]] xor
neg[j]. Its network follows from f's exactly (derive()): a negated input x -> 1 - x folds into
the first layer's weights and bias, a permutation reorders its rows, and since
sigmoid(-a) = 1 - sigmoid(a), a negated output negates the last layer.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from gatenet.server.training.family import tables as tbl


@dataclass(frozen=True)
class Transform:
    """How a member's table comes from its representative's: z_j = x[perm[j]] xor neg[j]."""

    perm: tuple[int, ...]
    neg: tuple[int, ...]  # 0/1 per representative input j
    out: int  # 1: the output is negated


def _transforms(num_inputs: int) -> tuple[list[Transform], np.ndarray, np.ndarray]:
    """Every transform, with its source rows [T, 2^n] and output flips [T]."""
    n = num_inputs
    x = ((np.arange(tbl.rows(n))[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1).astype(
        np.int64
    )
    place = np.int64(1) << np.arange(n - 1, -1, -1, dtype=np.int64)
    found, sources, flips = [], [], []
    for perm in itertools.permutations(range(n)):
        for neg in itertools.product((0, 1), repeat=n):
            z = x[:, list(perm)] ^ np.array(neg, dtype=np.int64)[None, :]
            source = z @ place  # the representative's row each member row reads
            for out in (0, 1):
                found.append(Transform(tuple(perm), tuple(neg), out))
                sources.append(source)
                flips.append(out)
    return found, np.stack(sources), np.array(flips, dtype=np.uint8)


@dataclass(frozen=True)
class Classes:
    """Every function of n inputs grouped: its class's representative and the transform."""

    num_inputs: int
    representatives: np.ndarray  # function numbers of the representatives, ascending [C]
    class_of: np.ndarray  # [2^(2^n)] index into representatives
    transform_of: np.ndarray  # [2^(2^n)] index into transforms
    transforms: list[Transform]

    def sizes(self) -> np.ndarray:
        """Members of each class [C]."""
        return np.bincount(self.class_of, minlength=len(self.representatives))


@functools.cache  # n <= 4: four small tables, computed once per process
def classes(num_inputs: int) -> Classes:
    """The NPN classes of n inputs; each representative is the smallest number in its class."""
    transforms, sources, flips = _transforms(num_inputs)
    tables = tbl.all_tables(num_inputs)
    count = tables.shape[0]
    class_of = np.full(count, -1, dtype=np.int64)
    transform_of = np.zeros(count, dtype=np.int64)
    reps: list[int] = []
    for f in range(count):  # the smallest unassigned function opens the next class
        if class_of[f] >= 0:
            continue
        images = tbl.numbers(tables[f][sources] ^ flips[:, None])  # [T]
        members, first = np.unique(images, return_index=True)
        class_of[members] = len(reps)
        transform_of[members] = first
        reps.append(f)
    representatives = np.array(reps, dtype=np.int64)
    for shared in (representatives, class_of, transform_of):  # cached: shared by every caller
        shared.flags.writeable = False
    return Classes(num_inputs, representatives, class_of, transform_of, transforms)


def apply(table: np.ndarray, t: Transform) -> np.ndarray:
    """The member's table from the representative's under t."""
    n = len(t.perm)
    x = (np.arange(tbl.rows(n))[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    z = x[:, list(t.perm)] ^ np.array(t.neg)[None, :]
    source = z @ (1 << np.arange(n - 1, -1, -1))
    return (table[source] ^ t.out).astype(np.uint8)


def derive(weights: dict[str, np.ndarray], t: Transform) -> dict[str, np.ndarray]:
    """The member's network from the representative's, exactly: [k, ...] stacked tensors."""
    out = {name: np.array(value, dtype=np.float32, copy=True) for name, value in weights.items()}
    last = sum(1 for name in out if name.endswith(".weight")) - 1
    w0, b0 = out["layers.0.weight"], out["layers.0.bias"]  # [k, n, h], [k, h]
    src = weights["layers.0.weight"]
    for j, i in enumerate(t.perm):
        # Representative input j reads member input i (negated if neg[j]): w x_i or w (1 - x_i).
        if t.neg[j]:
            w0[:, i, :] = -src[:, j, :]
            b0 += src[:, j, :]
        else:
            w0[:, i, :] = src[:, j, :]
    if t.out:
        out[f"layers.{last}.weight"] = -out[f"layers.{last}.weight"]
        out[f"layers.{last}.bias"] = -out[f"layers.{last}.bias"]
    return out


def derive_each(
    weights: dict[str, np.ndarray], transforms: list[Transform], which: np.ndarray
) -> dict[str, np.ndarray]:
    """derive() of many networks at once: network m under transforms[which[m]], exactly as
    derive() computes it (the bias takes the negated inputs' weights in the same order)."""
    out = {name: np.array(value, dtype=np.float32, copy=True) for name, value in weights.items()}
    k = len(which)
    if not k:
        return out
    last = sum(1 for name in out if name.endswith(".weight")) - 1
    perm = np.array([transforms[t].perm for t in which], dtype=np.int64)  # [k, n]
    neg = np.array([transforms[t].neg for t in which], dtype=bool)
    flip = np.array([transforms[t].out for t in which], dtype=bool)
    src = weights["layers.0.weight"]  # [k, n, h]
    w0, b0 = out["layers.0.weight"], out["layers.0.bias"]
    w0[np.arange(k)[:, None], perm, :] = np.where(neg[:, :, None], -src, src)
    for j in range(src.shape[1]):  # in input order, as derive() adds them
        b0[neg[:, j]] += src[neg[:, j], j, :]
    for name in (f"layers.{last}.weight", f"layers.{last}.bias"):
        out[name][flip] = -out[name][flip]
    return out
