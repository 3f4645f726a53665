"""A family's plan, progress and result: plain data (numpy), no torch.

The transports and the stored record read these types; only search.py (on a training
worker) imports torch, so `gatenet serve --help` and the models layer stay light.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gatenet.server.training.spec import Recipe

NO_WIDTH = -1


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
