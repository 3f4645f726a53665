"""The capacity picture of a family: each function (n <= 3) or NPN class (n = 4) as a cell
coloured by the smallest hidden width that fit it, beside the count of functions per width."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from ..family import Family
from . import plot

NONE = -1  # a function that fit at no width tried
MISSING = -2  # a function of n inputs the family does not hold (an explicit list)
NONE_COLOR, MISSING_COLOR = "#3a3a3a", "#f2f2f2"
CLASS_INPUTS = 4  # from this many inputs on, the picture shows NPN classes, not functions


def rows_of(family: Family) -> tuple[np.ndarray, np.ndarray]:
    """Every member's function number (its table's bits, row 0 first) and smallest width."""
    members = family.members
    numbers = np.array([int(m.table, 2) for m in members], dtype=np.int64)
    widths = np.array([NONE if m.width is None else m.width for m in members], dtype=np.int64)
    return numbers, widths


def npn_canonical(numbers: np.ndarray, n: int) -> np.ndarray:
    """Each function's NPN class, named by its smallest member's number.

    A member reads its table at permuted, negated inputs, optionally negating the output;
    a row permutation of the table moves its bits, so each transform maps a number through
    per-byte lookup tables (an OR of the bytes' images): 384 transforms x a gather each.
    """
    rows = 1 << n
    chunk = min(8, rows)
    x = (np.arange(rows)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    place = np.int64(1) << np.arange(n - 1, -1, -1, dtype=np.int64)
    v_bits = (np.arange(1 << chunk)[:, None] >> np.arange(chunk - 1, -1, -1)[None, :]) & 1
    parts = [
        (numbers >> (rows - chunk * (c + 1))) & ((1 << chunk) - 1) for c in range(rows // chunk)
    ]
    full = (np.int64(1) << rows) - 1
    best = numbers.copy()
    for perm in itertools.permutations(range(n)):
        for neg in itertools.product((0, 1), repeat=n):
            source = (x[:, list(perm)] ^ np.array(neg)[None, :]) @ place  # row each row reads
            dest = np.empty(rows, dtype=np.int64)
            dest[source] = np.arange(rows)
            weight = np.int64(1) << (rows - 1 - dest)  # where original row s's bit lands
            image = np.zeros_like(numbers)
            for c, part in enumerate(parts):
                image |= (v_bits @ weight[c * chunk : (c + 1) * chunk])[part]
            best = np.minimum(best, np.minimum(image, full ^ image))
    return best


def _grid(values: np.ndarray, columns: int) -> np.ndarray:
    """Values laid out row by row in a grid, the tail padded with MISSING."""
    cells = math.ceil(len(values) / columns) * columns
    return np.concatenate([values, np.full(cells - len(values), MISSING)]).reshape(-1, columns)


def function_cells(numbers: np.ndarray, widths: np.ndarray, n: int) -> np.ndarray:
    """Every function of n inputs at (its table's first half, second half); MISSING if absent."""
    side = 1 << ((1 << n) // 2)  # the values one half of the table's bits can take
    cells = np.full(side * side, MISSING, dtype=np.int64)
    cells[numbers] = widths
    return cells.reshape(side, side)


def class_cells(numbers: np.ndarray, widths: np.ndarray, n: int) -> tuple[np.ndarray, int, int]:
    """The classes' widths in a grid, ordered by width then class: (grid, classes, mixed).

    A class's width is the width by which every member of it fit (NONE if one never did);
    `mixed` counts classes whose members' smallest widths differ (classes off: each trained)."""
    canonical = npn_canonical(numbers, n)
    reps, inverse = np.unique(canonical, return_inverse=True)
    sortable = np.where(widths == NONE, np.iinfo(np.int64).max, widths)
    top = np.full(len(reps), -1, dtype=np.int64)
    np.maximum.at(top, inverse, sortable)
    low = np.full(len(reps), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(low, inverse, sortable)
    per_class = np.where(top == np.iinfo(np.int64).max, NONE, top)
    order = np.lexsort((reps, np.where(per_class == NONE, 1 << 30, per_class)))
    columns = math.ceil(math.sqrt(len(reps)))
    return _grid(per_class[order], columns), len(reps), int((top != low).sum())


def _colours(
    tried: list[int], used: int
) -> tuple[ListedColormap, BoundaryNorm, list[int], list[str]]:
    """A colour per width tried up to the largest that fit any function (`used`, an index into
    tried), so the widths that occur stand apart; plus none and not-in-family."""
    import matplotlib

    shown = tried[: used + 1]
    ramp = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.95, max(len(shown), 2)))
    colours = [MISSING_COLOR, NONE_COLOR, *ramp[: len(shown)]]
    levels = [MISSING, NONE, *range(len(shown))]  # widths are drawn as their index in tried
    bounds = [level - 0.5 for level in levels] + [levels[-1] + 0.5]
    labels = ["not in family", "none", *(str(w) for w in shown)]
    return ListedColormap(colours), BoundaryNorm(bounds, len(colours)), levels, labels


def figure(family: Family, size: tuple[int, int]) -> Figure:
    """The capacity picture of a family (GetFamily: its every member's row)."""
    n, tried = family.inputs, list(family.widths)
    numbers, widths = rows_of(family)
    index = {w: i for i, w in enumerate(tried)}
    as_index = np.array([index.get(int(w), NONE) for w in widths], dtype=np.int64)
    fig = Figure(figsize=(size[0] / plot.DPI, size[1] / plot.DPI), dpi=plot.DPI)
    plot.FigureCanvasAgg(fig)
    fit, functions, classes = family.fit, family.functions, family.classes
    fig.suptitle(
        f"{family.name or family.family_id}: {functions} functions of {n} inputs  ·  {fit} fit  ·  "
        f"widths {tried[0]}-{tried[-1]}  ·  classes {'on' if classes else 'off'}",
        fontsize="medium",
    )
    cells_ax = fig.add_axes((0.1, 0.12, 0.46, 0.72))
    cmap, norm, levels, labels = _colours(tried, int(as_index.max(initial=0)))
    per_class: dict[int, int] = {}  # width index -> classes (n = 4)
    if n < CLASS_INPUTS:
        grid = function_cells(numbers, as_index, n)
        half = (1 << n) // 2
        ticks = [format(v, f"0{half}b") for v in range(grid.shape[0])]
        cells_ax.set_xticks(np.arange(len(ticks)) + 0.5, ticks, rotation=90, fontsize="x-small")
        cells_ax.set_yticks(np.arange(len(ticks)) + 0.5, ticks, fontsize="x-small")
        cells_ax.set_ylabel(f"outputs of rows 0-{half - 1}", fontsize="small")
        cells_ax.set_xlabel(f"outputs of rows {half}-{2 * half - 1}", fontsize="small")
        cells_ax.set_title("every function, by its smallest width", fontsize="small")
        for (row, column), value in np.ndenumerate(grid):  # the width, legible without colour
            if value >= 0:
                text = str(tried[value])
                cells_ax.text(column + 0.5, row + 0.5, text, ha="center", va="center",
                              fontsize=6 if grid.shape[0] > 4 else 9, color="white")  # fmt: skip
    else:
        grid, count, mixed = class_cells(numbers, as_index, n)
        kinds, sizes = np.unique(grid[grid != MISSING], return_counts=True)
        per_class = {int(k): int(s) for k, s in zip(kinds, sizes, strict=True)}
        note = f"; {mixed} with members of different widths" if mixed else ""
        cells_ax.set_title(
            f"{count} NPN classes, by the width every member fit{note}", fontsize="small"
        )
        cells_ax.set_xticks([])
        cells_ax.set_yticks([])
    image = cells_ax.pcolormesh(grid, cmap=cmap, norm=norm, edgecolors="white", linewidth=0.4)
    cells_ax.set_aspect("equal")
    cells_ax.invert_yaxis()
    bar = fig.colorbar(image, ax=cells_ax, ticks=levels, fraction=0.05, pad=0.02)
    bar.ax.set_yticklabels(labels, fontsize="x-small")
    bars = fig.add_axes((0.74, 0.1, 0.23, 0.74))
    _counts(bars, family, tried, functions - fit, cmap, norm, per_class)
    return fig


def _counts(
    ax: Any,
    family: Family,
    tried: list[int],
    unfit: int,
    cmap: ListedColormap,
    norm: BoundaryNorm,
    per_class: dict[int, int],
) -> None:
    """Functions per smallest width (the capacity table), none last; with classes drawn, how
    many classes each count is."""
    counts = [family.fit_by_width.get(w, 0) for w in tried] + [unfit]
    top = len(cmap.colors) - 3  # type: ignore[arg-type]  # the largest width index coloured
    colours = [cmap(norm(min(i, top))) for i in range(len(tried))] + [NONE_COLOR]
    names = [str(w) for w in tried] + ["none"]
    bars = ax.barh(range(len(counts)), counts, color=colours)
    keys = [*range(len(tried)), NONE]
    notes = [
        f" ({per_class[k]} cl.)" if per_class.get(k) and c else ""
        for k, c in zip(keys, counts, strict=True)
    ]
    ax.bar_label(bars, [f"{c:,}{note}" for c, note in zip(counts, notes, strict=True)],
                 fontsize="x-small", padding=2)  # fmt: skip
    ax.set_yticks(range(len(names)), names, fontsize="x-small")
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(counts), 1) * (1.9 if per_class else 1.3))  # room for the labels
    ax.set_xlabel("functions", fontsize="small")
    ax.set_ylabel("smallest width", fontsize="small")
    ax.tick_params(axis="x", labelsize="x-small")
