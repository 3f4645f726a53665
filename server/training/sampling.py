"""Row schedules: which rows each restart sees per step, drawn in bulk from its own generator."""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Indices drawn per restart per chunk. The chunk length in steps depends on the batch size only,
# never on the number of restarts, so restart k's draws are the same whatever R is.
CHUNK_ELEMENTS = 4096


class RowSampler:
    """Row indices [R * batch] per step; restart k draws with replacement from gens[k]."""

    def __init__(self, gens: Sequence[torch.Generator], rows: int, batch: int) -> None:
        self.gens = list(gens)
        self.rows = rows
        self.batch = batch
        self.chunk_steps = max(1, CHUNK_ELEMENTS // batch)
        self._chunk = torch.empty(0, len(self.gens) * batch, dtype=torch.long)
        self._used = 0

    def next(self) -> torch.Tensor:
        """The next step's indices, restart-major: [k * batch + j] is restart k's j-th row."""
        if self._used == self._chunk.shape[0]:
            draws = [
                torch.randint(self.rows, (self.chunk_steps, self.batch), generator=g)
                for g in self.gens
            ]
            self._chunk = torch.cat(draws, dim=1)
            self._used = 0
        idx = self._chunk[self._used]
        self._used += 1
        return idx


class FixedOrder:
    """Row indices [R * batch] per step from one given order, cycled; every restart alike."""

    def __init__(self, order: Sequence[int], restarts: int, batch: int) -> None:
        # One cycle long enough to hand out whole batches: the order repeated batch times.
        cycle = torch.tensor(list(order) * batch, dtype=torch.long)
        self._steps = cycle.view(len(order), batch).repeat(1, restarts)
        self._used = 0

    def next(self) -> torch.Tensor:
        idx = self._steps[self._used]
        self._used = (self._used + 1) % self._steps.shape[0]
        return idx


class Feed:
    """Each step's rows as fixed buffers x [R, n, F] and y [R, n, 1] (n = rows per step)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        gens: Sequence[torch.Generator],
        schedule: str,
        batch_size: int,
        row_order: Sequence[int] | None = None,
    ) -> None:
        r, (rows, features) = len(gens), x.shape
        # Full batch exposes broadcast views of the dataset (no per-step work); online and
        # mini-batch gather sampled rows into the same buffers, so engines can hoist views.
        self.data_x, self.data_y = x, y
        if schedule == "full_batch":
            self.sampler: RowSampler | FixedOrder | None = None
            self.x = x.expand(r, rows, features)
            self.y = y.view(1, rows, 1).expand(r, rows, 1)
        else:
            batch = 1 if schedule == "online" else batch_size
            self.sampler = (
                FixedOrder(row_order, r, batch) if row_order else RowSampler(gens, rows, batch)
            )
            self.x = torch.empty(r, batch, features, dtype=x.dtype)
            self.y = torch.empty(r, batch, 1, dtype=y.dtype)
            self._x_rows = self.x.view(r * batch, features)
            self._y_rows = self.y.view(r * batch)
        self.rows_per_step = self.x.shape[1]

    def next(self) -> None:
        """Load the next step's rows into x and y (nothing to do for full batch)."""
        if self.sampler is not None:
            idx = self.sampler.next()
            torch.index_select(self.data_x, 0, idx, out=self._x_rows)
            torch.index_select(self.data_y, 0, idx, out=self._y_rows)
