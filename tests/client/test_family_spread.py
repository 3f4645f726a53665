"""A large family splits over the training workers idle at the time, and its table, members
and progress are those of one worker's run."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from gatenet.client import Client
from gatenet.client.family import FamilyProgress
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.plan import MIN_SPLIT, FamilyPlan, merge
from gatenet.server.training.family.search import at_width, check, train_family
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import truth_table_task


def _plan(tables: np.ndarray, width: int, classes: bool = False) -> FamilyPlan:
    n = int(tables.shape[1]).bit_length() - 1
    # 2,000 steps, not 5,000: the tables no width fits run them all, on every part and the whole.
    task = truth_table_task(n, [0] * (1 << n), Limits())
    spec = TrainSpec(task, restarts=4, seed=0, steps=2000)
    return FamilyPlan(tables, (0, width), classes, resolve(spec, Limits()))


def test_the_parts_of_a_split_plan_merge_into_the_whole_plans_result() -> None:
    plan = _plan(tbl.all_tables(4)[::21], 3)  # 3,121 tables: 3 parts of ~1,040
    parts = plan.split(8)
    assert [len(p.tables) for p in parts] == [1040, 1040, 1041]
    assert plan.split(1) == [plan] and _plan(plan.tables, 3, classes=True).split(8)[0].classes
    whole, merged = train_family(plan), merge([train_family(p) for p in parts])
    assert (merged.tables == whole.tables).all()
    assert (merged.width == whole.width).all() and merged.fit_by_width() == whole.fit_by_width()
    for width, members in merged.members.items():
        assert (members.index == whole.members[width].index).all()
        # Each merged network sits with its own table: it fits it (the weights themselves
        # match the whole run's up to float rounding, which long runs drift from).
        fit, _ = check(plan.tables[members.index], members.weights, at_width(plan.recipe, width))
        assert fit.all()


def test_a_large_family_trains_on_both_idle_workers(make_server) -> None:
    srv = make_server(training_workers=2)
    srv._loop.run(srv.pool.warmed())
    tables = tbl.all_tables(4)[::31][: 2 * MIN_SPLIT]
    progress: list[tuple[int, int]] = []
    dispatched = srv.pool._dispatches
    with Client(srv.target, timeout=120) as c:
        family = c.train_family(
            4,
            "spread",
            tables=[tbl.text(t) for t in tables],
            hidden=8,
            seed=0,
            on_progress=lambda p: progress.append((p.settled, p.pending)),
        )
        assert srv.pool._dispatches == dispatched + 2  # each worker trained a part
        assert progress and all(pending == 2 * MIN_SPLIT for _, pending in progress)
        assert family.functions == family.fit == 2 * MIN_SPLIT
        alone = train_family(dataclasses.replace(_plan(tables, 8), widths=(8,)))
        assert [m.table for m in family.members] == [tbl.bits(t) for t in tables]
        assert family.fit_by_width == alone.fit_by_width()
        last = tbl.text(tables[-1])  # a member of the second part predicts its own table
        rows = [[(r >> (3 - i)) & 1 for i in range(4)] for r in range(16)]
        assert c.predict(f"spread/{last}", rows).labels.tolist() == list(tables[-1])


def test_leaving_the_stream_stops_every_part_of_a_split_family(make_server) -> None:
    srv = make_server(training_workers=2, max_trainings_per_client=2)
    srv._loop.run(srv.pool.warmed())
    with Client(srv.target) as c:
        dispatched = srv.pool._dispatches
        events = c.train_family_stream(4, "spread-cancelled", widths=(0, 8), seed=0)
        assert isinstance(next(events), FamilyProgress)  # both parts have begun
        assert srv.pool._dispatches == dispatched + 2
        events.close()  # the caller stops: the call is cancelled, and each part with it
        end = time.monotonic() + 30  # the server's own state says when (no event does)
        while srv.pool.in_flight:
            assert time.monotonic() < end, "a part of the family was not cancelled"
            time.sleep(0.005)
        # Both workers and both of the client's trainings in flight are free again.
        family = c.train_family(2, "spread-after", widths=(0, 2), seed=0, timeout=60)
        assert family.fit == 16
