"""A new model's stored document, written field by field, equals json_format's and reads back."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from gatenet.server.models import document, spec_codec
from gatenet.server.storage import ModelMeta
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainResult
from gatenet.server.training.trainer import train
from gatenet.v1 import gatenet_pb2 as pb

LIMITS = Limits()

REQUESTS = {
    "gate": pb.TrainRequest(gate=pb.GateTask(name="XOR"), steps=20),
    "named table, row order": pb.TrainRequest(
        name="parity-ü",
        truth_table=pb.TruthTableTask(num_inputs=2, outputs=[0, 1, 1, 0]),
        row_order=[3, 2, 1, 0],
        schedule=pb.SCHEDULE_ONLINE,
        steps=5,
        early_stop=False,
    ),
    "examples, initial weights, no hidden layer": pb.TrainRequest(
        examples=pb.ExamplesTask(num_inputs=2, inputs=[0, 0, 1, 1], targets=[0, 1]),
        network=pb.Network(no_hidden_layers=True),
        initial_weights=[
            pb.Tensor(name="layers.0.weight", shape=[2, 1], values=[0.5, -0.5]),
            pb.Tensor(name="layers.0.bias", shape=[1], values=[0.0]),
        ],
        seed=2**40,
        steps=3,
    ),
}


def trained(request: pb.TrainRequest) -> tuple[spec_codec.Description, TrainResult]:
    recipe = resolve(spec_codec.spec_from_request(request, LIMITS), LIMITS)
    return spec_codec.describe(recipe, request.name), train(recipe)


def both_ways(described: spec_codec.Description, result: TrainResult) -> tuple[dict, dict]:
    info = spec_codec.model_info("ab" * 16, 1_700_000_000.25, described, result)
    activation = described.recipe.activation
    return (
        document.document(info, activation, described.spec_json),
        document.document(info, activation),
    )


@pytest.mark.parametrize("case", REQUESTS)
def test_the_document_equals_json_formats_and_reads_back_as_the_model_info(case):
    described, result = trained(REQUESTS[case])
    fast, reference = both_ways(described, result)
    assert fast == reference
    json.dumps(fast, allow_nan=False)  # what the stores write
    meta = ModelMeta("ab" * 16, described.name, 1_700_000_000.25, fast)
    read = document.model_info(meta)
    assert read.spec == described.spec
    assert read.summary.seed_used == result.summary.seed_used
    assert [(p.step, p.loss) for p in read.loss_curve] == result.loss_curve


def test_zeros_and_non_finite_losses_are_written_as_json_format_writes_them():
    described, result = trained(REQUESTS["gate"])
    odd = dataclasses.replace(
        result,
        summary=dataclasses.replace(
            result.summary, fit=False, accuracy=0.0, final_loss=math.inf, restart_index=0
        ),
        loss_curve=[(0, math.nan), (1, 0.0), (2, -math.inf), (3, 0.25)],
    )
    fast, reference = both_ways(described, odd)
    assert fast == reference
    json.dumps(fast, allow_nan=False)
