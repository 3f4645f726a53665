"""A family's plan, progress and result: plain data (numpy), no torch.

The transports and the stored record read these types; only search.py (on a training
worker) imports torch, so `gatenet serve --help` and the models layer stay light.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np

from gatenet.server.training.spec import Recipe

NO_WIDTH = -1
# Tables a worker takes at least when a family is split: below this, a second worker's hand-off
# and answer cost about what it saves (256 functions of 3 inputs train in ~10 ms).
MIN_SPLIT = 1024


@dataclass(frozen=True)
class FamilyPlan:
    """What to train: the tables, the widths tried in order, symmetry on or off, the recipe."""

    tables: np.ndarray  # [F, 2^n] uint8, outputs in row order
    widths: tuple[int, ...]  # single hidden layer widths, ascending; 0 = no hidden layer
    classes: bool  # train NPN representatives only
    recipe: Recipe  # every field but hidden_sizes applies to every width

    @property
    def num_inputs(self) -> int:
        return int(self.tables.shape[1]).bit_length() - 1

    def split(self, parts: int) -> list[FamilyPlan]:
        """The plan cut into up to `parts` plans of consecutive tables, one per worker (merge()
        joins their results); one plan when small or by classes (a few hundred at most)."""
        parts = min(parts, len(self.tables) // MIN_SPLIT)
        if self.classes or parts < 2:
            return [self]
        bounds = np.linspace(0, len(self.tables), parts + 1).astype(int)
        return [
            dataclasses.replace(self, tables=self.tables[a:b])
            for a, b in itertools.pairwise(bounds)
        ]


@dataclass(frozen=True)
class FamilyProgress:
    """A progress sample: the width being tried, tables settled at it, fit so far."""

    width: int
    settled: int  # tables (representatives with classes) settled at this width
    pending: int  # tables tried at this width
    fit: int  # tables fit so far at any width
    trained: int  # tables trained in all (representatives with classes)


@dataclass
class MemberSet:
    """The fitted members of one width: function indices [k] and stacked tensors [k, ...]."""

    index: np.ndarray
    weights: dict[str, np.ndarray]


@dataclass
class FamilyResult:
    """Per function [F]: smallest width that fit (NO_WIDTH: none) and its margin; the networks."""

    tables: np.ndarray
    width: np.ndarray  # int16
    margin: np.ndarray  # float32; for a function that never fit, its best at the last width
    derived: np.ndarray  # bool: the network was derived from its class representative's
    members: dict[int, MemberSet] = field(default_factory=dict)
    seconds: float = 0.0
    stopped_by: str = "done"  # or "time": the cap ended the search
    classes: int = 0  # representatives trained (0 without classes)
    derive_failed: int = 0  # derived members that failed their own check (expected 0)

    @property
    def fit(self) -> int:
        return int((self.width != NO_WIDTH).sum())

    def fit_by_width(self) -> dict[int, int]:
        """How many functions' smallest fitting width is each width tried."""
        widths, counts = np.unique(self.width[self.width != NO_WIDTH], return_counts=True)
        return {int(w): int(c) for w, c in zip(widths, counts, strict=True)}


def merge(parts: list[FamilyResult]) -> FamilyResult:
    """One result from the results of a plan's split() parts, in their order."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(p.width) for p in parts])
    result = FamilyResult(
        tables=np.concatenate([p.tables for p in parts]),
        width=np.concatenate([p.width for p in parts]),
        margin=np.concatenate([p.margin for p in parts]),
        derived=np.concatenate([p.derived for p in parts]),
        seconds=max(p.seconds for p in parts),
        stopped_by="time" if any(p.stopped_by == "time" for p in parts) else "done",
        classes=sum(p.classes for p in parts),
        derive_failed=sum(p.derive_failed for p in parts),
    )
    for width in sorted({w for p in parts for w in p.members}):
        held = [(p.members[width], off) for p, off in zip(parts, offsets, strict=False)
                if width in p.members]  # fmt: skip
        names = held[0][0].weights
        result.members[width] = MemberSet(
            np.concatenate([m.index + off for m, off in held]),
            {name: np.concatenate([m.weights[name] for m, _ in held]) for name in names},
        )
    return result


def merge_progress(latest: list[FamilyProgress]) -> FamilyProgress:
    """One progress sample from each part's latest: the lowest width any is at, the sums."""
    return FamilyProgress(
        width=min(p.width for p in latest),
        settled=sum(p.settled for p in latest),
        pending=sum(p.pending for p in latest),
        fit=sum(p.fit for p in latest),
        trained=sum(p.trained for p in latest),
    )
