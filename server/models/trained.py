"""A trained model made ready to store and serve inside the worker that trained it.

The pool calls finish() in the worker process right after a run, while its code and data
are hot, so the server's event loop, woken by the answer, only splices the stored text
together, commits it and answers (plane/train.py). It builds the tensors' safetensors
bytes, the compiled model Predict serves, and the summary and loss curve in the stored
document's JSON. It runs in the training worker, so it imports no Protobuf or gRPC (a test
checks); the proto3 JSON rules it needs are written here and checked against
json_format's output by tests/models/test_model_document.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from gatenet.server.models.compiled import CompiledModel
from gatenet.server.storage.codec import encode_tensors
from gatenet.server.training.spec import Recipe, Summary, TrainResult

# TrainSummary's 64-bit integer fields: the proto3 JSON mapping writes them as strings.
INT64_SUMMARY_FIELDS = frozenset({"seed_used"})
_PLACEHOLDER_ID = "0" * 32  # encode_tensors names a model only in its error messages


@dataclass(frozen=True, slots=True)
class Trained:
    """What the server needs of a finished run: its summary, and, when every parameter is
    finite, the model ready to store (safetensors bytes, document JSON) and to serve."""

    summary: Summary
    loss_curve: list[tuple[int, float]]
    finite: bool  # False: training diverged; nothing below is set
    tensors: bytes = b""  # the parameters as safetensors
    summary_json: dict[str, Any] = dataclasses.field(default_factory=dict)
    curve_json: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tail_text: str = ""  # the document's "summary" (and "loss_curve") members as JSON text
    compiled: CompiledModel | None = None


def finish(recipe: Recipe, result: TrainResult) -> Trained:
    """Ready a run's model to store and serve (called in the worker, after training)."""
    weights = result.weights
    try:
        tensors = encode_tensors(_PLACEHOLDER_ID, weights)  # float32 by construction
    except ValueError:  # a parameter overflowed: the run diverged
        return Trained(result.summary, result.loss_curve, finite=False)
    summary = scalars_json(vars(result.summary))  # a flat dataclass: no asdict copy
    curve = [scalars_json({"step": step, "loss": loss}) for step, loss in result.loss_curve]
    tail = {"summary": summary, "loss_curve": curve} if curve else {"summary": summary}
    return Trained(
        result.summary,
        result.loss_curve,
        finite=True,
        tensors=tensors,
        summary_json=summary,
        curve_json=curve,
        # Plain json: a worker has no event loop to yield the GIL to (json_text.py's reason).
        tail_text=json.dumps(tail, allow_nan=False, separators=(",", ":"))[1:-1],
        compiled=CompiledModel(weights, recipe.activation),
    )


def scalars_json(fields: dict[str, Any]) -> dict[str, Any]:
    """Scalar message fields in the proto3 JSON mapping, as json_format writes them: defaults
    left out, 64-bit integers as strings, non-finite doubles by name."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        elif not value:
            continue
        elif name in INT64_SUMMARY_FIELDS and isinstance(value, int) and value is not True:
            value = str(value)
        out[name] = value
    return out
