"""Families: the width search finds exactly the linearly separable functions at width 0, the
NPN classes cover every function, and a derived member's network fits its own table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatenet.server.errors import Cancelled, InvalidArgument
from gatenet.server.training.family import npn
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.search import FamilyPlan, at_width, check, train_family
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import truth_table_task

LIMITS = Limits()


def recipe(n: int, restarts: int = 4, seed: int = 0):
    spec = TrainSpec(
        truth_table_task(n, [0] * (1 << n), LIMITS), hidden_sizes=(), restarts=restarts, seed=seed
    )
    return resolve(spec, LIMITS)


def family(n: int, widths: range, classes: bool = False, tables: np.ndarray | None = None):
    chosen = tbl.all_tables(n) if tables is None else tables
    return train_family(FamilyPlan(chosen, tuple(widths), classes, recipe(n)))


def test_tables_read_as_their_number_in_row_order() -> None:
    every = tbl.all_tables(2)
    assert every.shape == (16, 4)
    assert tbl.text(every[6]) == "0,1,1,0"  # XOR: rows 00, 01, 10, 11
    assert tbl.bits(every[8]) == "1000"  # NOR
    assert list(tbl.numbers(every)) == list(range(16))
    for spelling in ("0,1,1,0", "0 1 1 0", "0110", " 0, 1,1 ,0 "):
        assert tbl.text(tbl.parse(spelling, 2)) == "0,1,1,0"


@pytest.mark.parametrize(
    ("value", "message"),
    [("0,1,1", "has 3 outputs; 2 inputs need 4"), ("0,1,2,0", "'2'; outputs are 0 or 1")],
)
def test_bad_tables_name_the_field_and_the_rule(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as err:
        tbl.parse_all(["0,0,0,1", value], 2, 100)
    assert err.value.field == "tables[1]"


def test_a_table_listed_twice_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"tables\[2\]: '0110' is listed twice"):
        tbl.parse_all(["0,1,1,0", "0,0,0,1", "0110"], 2, 100)


def test_width_0_fits_exactly_the_14_separable_functions_of_2_inputs() -> None:
    result = family(2, range(0, 1))
    assert result.fit == 14
    unfit = {tbl.bits(t) for t in result.tables[result.width < 0]}
    assert unfit == {"0110", "1001"}  # XOR and XNOR
    assert (result.margin[result.width == 0] >= 0.4).all()


def test_a_family_run_leaves_the_callers_subnormal_floats_alone() -> None:
    """As a Train run does: the flush to zero is the run's, not the calling thread's."""
    family(2, range(0, 1))
    assert float(torch.tensor([1e-40]) * 1.0) > 0.0


def test_width_0_fits_104_of_the_256_functions_of_3_inputs() -> None:
    result = family(3, range(0, 1))
    assert (result.fit, result.fit_by_width()) == (104, {0: 104})
    assert set(result.members) == {0}
    assert len(result.members[0].index) == 104


def test_width_search_to_4_fits_all_256_with_104_at_width_0() -> None:
    result = family(3, range(0, 5))
    by_width = result.fit_by_width()
    assert result.fit == 256 and by_width[0] == 104 and sum(by_width.values()) == 256
    assert 1 not in by_width  # one hidden unit is a linear unit squashed: nothing more fits
    parity = int(tbl.numbers(tbl.parse("01101001", 3)[None])[0])
    assert result.width[parity] >= 2
    for width, members in result.members.items():  # every stored network fits its table
        fit, margin = check(
            result.tables[members.index], members.weights, at_width(recipe(3), width)
        )
        assert fit.all() and (margin >= 0.4).all()


@pytest.mark.parametrize(("n", "count", "functions"), [(2, 4, 16), (3, 14, 256), (4, 222, 65536)])
def test_npn_classes_cover_every_function(n: int, count: int, functions: int) -> None:
    groups = npn.classes(n)
    assert len(groups.representatives) == count
    assert groups.sizes().sum() == functions and (groups.sizes() > 0).all()
    every = tbl.all_tables(n)
    for f in range(0, functions, max(1, functions // 512)):  # the transform maps rep -> member
        rep = every[groups.representatives[groups.class_of[f]]]
        assert (npn.apply(rep, groups.transforms[groups.transform_of[f]]) == every[f]).all()


def test_a_derived_member_fits_its_own_table() -> None:
    groups = npn.classes(3)
    every = tbl.all_tables(3)
    # A member reached by permuting, negating an input and negating the output.
    t = next(t for t in groups.transforms if t.out and any(t.neg) and t.perm != (0, 1, 2))
    rep = every[24]  # 00011000: needs a hidden layer
    member = npn.apply(rep, t)
    assert not (member == rep).all()
    trained = train_family(FamilyPlan(rep[None], (3,), False, recipe(3)))
    assert trained.fit == 1
    derived = npn.derive(trained.members[3].weights, t)
    rec = at_width(recipe(3), 3)
    assert check(member[None], derived, rec)[0].all()
    assert not check(member[None], trained.members[3].weights, rec)[0].any()


def test_classes_give_the_same_counts_and_check_each_member() -> None:
    plain = family(3, range(0, 5))
    by_class = family(3, range(0, 5), classes=True)
    assert by_class.classes == 14 and by_class.derive_failed == 0
    assert by_class.fit == 256 and by_class.fit_by_width()[0] == 104
    assert by_class.derived.all() and not plain.derived.any()
    for width, members in by_class.members.items():
        fit, _ = check(by_class.tables[members.index], members.weights, at_width(recipe(3), width))
        assert fit.all()


def test_classes_of_a_listed_family_train_only_their_representatives() -> None:
    listed = tbl.parse_all(["0,1,1,0", "1,0,0,1", "0,0,0,1", "0,1,1,1"], 2, 100)
    result = family(2, range(0, 3), classes=True, tables=listed)
    assert result.classes == 2  # {XOR, XNOR} and {AND, OR}
    assert result.fit == 4 and result.fit_by_width() == {0: 2, 2: 2}


def test_a_cancelled_family_stops() -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        train_family(FamilyPlan(tbl.all_tables(3), (0,), False, recipe(3)), should_stop=stop)


def test_a_time_limit_ends_the_search_with_what_fit() -> None:
    result = train_family(
        FamilyPlan(tbl.all_tables(3), (0, 1, 2), False, recipe(3)), time_limit=0.0
    )
    assert result.stopped_by == "time"
    assert result.fit < 256


def test_every_table_reads_as_its_bit_string_at_once() -> None:
    for n in (1, 2, 3, 4):
        every = tbl.all_tables(n)
        assert tbl.bits_each(every) == [tbl.bits(t) for t in every]
    assert tbl.bits_each(np.zeros((0, 8), np.uint8)) == []
