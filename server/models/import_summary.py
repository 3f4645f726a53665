"""An imported model's summary when its file carried none: measured on the rows of the task
the file names, or left unset (unknown) when it names none. Never zeros that look real."""

from __future__ import annotations

import numpy as np

from gatenet.server.errors import InvalidArgument
from gatenet.server.models import spec_codec
from gatenet.server.models.measure import measure
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits
from gatenet.v1 import gatenet_pb2 as pb


def summarize(
    info: pb.ModelInfo,
    weights: dict[str, np.ndarray],
    activation: str,
    field: str,
    limits: Limits,
) -> None:
    """Measure info.summary when the file named a task but carried no summary (numpy over
    the task's rows: call it off the event loop). `field`: safetensors or json, for errors."""
    if info.HasField("summary") or info.spec.WhichOneof("task") is None:
        return  # the original's summary, or nothing to measure on: unknown
    spec = pb.TrainRequest()
    spec.CopyFrom(info.spec)
    spec.ClearField("initial_weights")  # the original's start; measuring needs none
    try:
        requested = spec_codec.spec_from_request(spec, limits)
        inputs = requested.dataset.num_inputs
        recipe = resolve(requested, limits) if inputs == info.num_inputs else None
    except InvalidArgument as exc:
        raise InvalidArgument(f"{field}.spec", str(exc)) from None
    if recipe is None:
        raise InvalidArgument(
            f"{field}.spec", f"its task has {inputs} inputs; the tensors take {info.num_inputs}"
        )
    data = recipe.dataset
    measured = measure(
        weights,
        activation,
        (data.inputs, data.targets),
        loss=recipe.loss,
        reduction=recipe.reduction,
        margin=recipe.margin,
        perceptron=recipe.method == "perceptron",
    )
    info.summary.CopyFrom(
        pb.TrainSummary(
            fit=measured.fit,
            accuracy=measured.accuracy,
            final_loss=measured.final_loss,
            margin_reached=measured.margin_reached,
            measured=True,
        )
    )
