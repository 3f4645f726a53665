"""Pictures of a model: its decision surface, its truth table or its loss curve (matplotlib)."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..results import ModelInfo
from . import render

DPI = 100  # pixels per inch: a WxH request is a (W/DPI)x(H/DPI) inch figure
LIMITS = (-0.25, 1.25)  # the square a 2-input surface covers, unless rows lie outside it
AXES = (0.1, 0.1, 0.68, 0.74)  # the surface's axes: left, bottom, width, height (figure fractions)
COLORBAR = (0.83, 0.1, 0.03, 0.74)
CMAP = "RdBu_r"  # probability 0 blue, 0.5 white, 1 red
MAX_ROWS = 256  # rows a table plot shows
# The formats a plot is written in, named by the file's extension: Agg's, less raw and rgba
# (bare pixels no viewer opens) and pgf (needs a LaTeX install).
FORMATS = tuple(
    extension
    for extension in FigureCanvasAgg.get_supported_filetypes()
    if extension not in ("raw", "rgba", "pgf")
)


def _figure(info: ModelInfo, size: tuple[int, int], what: str) -> Figure:
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)  # draw with Agg: files only, no window, no display needed, no pyplot
    fit = f"fit {render.fit_label(info)}"
    name = f"  ({info.name})" if info.name else ""
    fig.suptitle(
        f"{info.model_id}{name}\n{render.task_label(info.spec)}  ·  "
        f"{render.network_label(info)}  ·  {fit}  ·  {what}",
        fontsize="medium",
    )
    return fig


def limits(rows: np.ndarray) -> tuple[float, float, float, float]:
    """x0, x1, y0, y1 of a surface: LIMITS, widened to keep every row inside with a margin."""
    low, high = LIMITS
    if rows.size:
        lo, hi = rows.min(axis=0) - 0.25, rows.max(axis=0) + 0.25
        return min(low, lo[0]), max(high, hi[0]), min(low, lo[1]), max(high, hi[1])
    return low, high, low, high


def pixel(x: float, y: float, size: tuple[int, int], box: tuple[float, ...]) -> tuple[int, int]:
    """The (row, column) of the image pixel at data point (x, y) of a surface plot."""
    x0, x1, y0, y1 = box
    left, bottom, width, height = AXES
    column = (left + (x - x0) / (x1 - x0) * width) * size[0]
    row = (1 - bottom - (y - y0) / (y1 - y0) * height) * size[1]
    return int(row), int(column)


def surface(
    info: ModelInfo,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    rows: np.ndarray,
    targets: np.ndarray,
    labels: np.ndarray,
    size: tuple[int, int],
) -> Figure:
    """A 2-input model: P(1) over the plane, its 0.5 contour, the training rows by target."""
    xs, ys, probability = grid
    fig = _figure(info, size, "P(label = 1)")
    ax = fig.add_axes(AXES)
    extent = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    image = ax.imshow(
        probability,
        extent=extent,
        origin="lower",
        cmap=CMAP,
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="bilinear",
    )
    if probability.min() < 0.5 < probability.max():
        ax.contour(xs, ys, probability, levels=[0.5], colors="black", linewidths=1.5)
    for target, marker in ((0, "o"), (1, "^")):  # shape as well as colour tells the target
        x, y = rows[targets == target].T
        color = matplotlib.colormaps[CMAP](float(target))
        ax.scatter(x, y, marker=marker, s=110, color=color, edgecolors="white", linewidths=2)
        ax.scatter([], [], marker=marker, color=color, edgecolors="k", label=f"target {target}")
    wrong = labels != targets
    if wrong.any():  # rows the model gets wrong: a thick yellow ring
        x, y = rows[wrong].T
        ax.scatter(x, y, s=320, facecolors="none", edgecolors="gold", linewidths=2.5)
    fig.legend(loc="lower right", fontsize="small", frameon=False)  # below the colour bar
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("input 0")
    ax.set_ylabel("input 1")
    fig.colorbar(image, cax=fig.add_axes(COLORBAR), label="P(label = 1)")
    return fig


def table(
    info: ModelInfo,
    rows: np.ndarray,
    targets: np.ndarray,
    probability: np.ndarray,
    size: tuple[int, int],
) -> Figure:
    """One bar per row (the first MAX_ROWS): P(1) coloured, target marked, wrong rows shaded."""
    shown = min(len(rows), MAX_ROWS, len(probability))
    more = f", first {shown} of {len(rows)} rows" if len(rows) > shown else ""
    fig = _figure(info, size, f"P(label = 1) per training row{more}")
    ax = fig.add_axes((0.18, 0.1, 0.72, 0.74))
    rows, targets, probability = rows[:shown], targets[:shown], probability[:shown]
    y = np.arange(shown)
    wrong = (probability > 0.5) != (targets > 0.5)
    for i in np.flatnonzero(wrong):
        ax.axhspan(i - 0.5, i + 0.5, color="gold", alpha=0.5, linewidth=0)
    ax.barh(y, probability, color=matplotlib.colormaps[CMAP](probability), edgecolor="k")
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(shown - 0.5, -0.5)  # row 0 at the top, as a truth table reads
    if shown <= 32:  # the inputs and the target beside each row, while they stay legible
        ax.set_yticks(y, [" ".join(f"{v:g}" for v in row) for row in rows])
        column = ax.get_yaxis_transform()  # x in axes fractions, y in rows
        ax.text(1.03, -0.5, "target", transform=column, ha="center", va="bottom")
        for row, target in enumerate(targets[:shown]):
            ax.text(1.03, row, f"{target:g}", transform=column, ha="center", va="center")
    ax.set_xlabel("P(label = 1)   (shaded: wrong)")
    return fig


def loss(info: ModelInfo, log: bool, size: tuple[int, int]) -> Figure:
    """The sampled loss curve of the kept restart."""
    fig = _figure(info, size, "loss")
    ax = fig.add_axes((0.12, 0.1, 0.8, 0.74))
    if info.loss_curve:
        steps, values = zip(*info.loss_curve, strict=True)
        ax.plot(steps, values, marker="." if len(steps) < 50 else None)
    else:
        ax.text(0.5, 0.5, "no loss curve recorded", ha="center", transform=ax.transAxes)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss" + (" (log scale)" if log else ""))
    return fig


def format_of(path: str) -> str:
    """The format path's extension names (png, svg, pdf, jpg...); ValueError for any other."""
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    if extension not in FORMATS:
        named = f"'.{extension}'" if extension else "a name without an extension"
        raise ValueError(
            f"-o {path}: {named} is not a format gatenet plot writes;"
            f" use {', '.join('.' + f for f in FORMATS)}"
        )
    return extension


def save(fig: Figure, path: str) -> None:
    """Write fig in the format path's extension names, at exactly its requested pixel size."""
    fig.savefig(path, dpi=DPI, format=format_of(path))
