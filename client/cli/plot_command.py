"""`gatenet plot`: gather what a picture of a model needs through the client, then draw it."""

from __future__ import annotations

import numpy as np

from ..client import Client
from . import capacity, plot, tasks
from .cli_input import InputError

GRID = 121  # points per axis of a surface; 121^2 rows is one Predict well under its row limit


def draw(
    client: Client, model: str, path: str, size: tuple[int, int], *, loss: bool, log: bool
) -> None:
    """Write a PNG of model: its loss curve, its 2-input surface, or one bar per training row."""
    info = client.get_model(model)
    if info.family is not None:  # a family: its capacity picture
        if loss:
            raise InputError(
                f"{model} is a family: it has no loss curve (plot a member NAME/TABLE)"
            )
        plot.save(capacity.figure(client.get_family(info.model_id), size), path)
        return
    if loss:
        figure = plot.loss(info, log, size)
    else:
        rows, targets = tasks.training_rows(info.spec, info.num_inputs)
        if info.num_inputs == 2:
            x0, x1, y0, y1 = plot.limits(rows)
            xs, ys = np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID)
            plane = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
            surface = client.predict(info, plane).probabilities.reshape(GRID, GRID)
            labels = client.predict(info, rows).labels
            figure = plot.surface(info, (xs, ys, surface), rows, targets, labels, size)
        else:
            probability = client.predict(info, rows[: plot.MAX_ROWS]).probabilities
            figure = plot.table(info, rows, targets, probability, size)
    plot.save(figure, path)
