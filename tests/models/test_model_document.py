"""A new model's stored document, written field by field (and its text spliced from parts the
worker made), equals json_format's and encode_meta's, and reads back."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from gatenet.server.models import document, spec_codec
from gatenet.server.models import trained as trained_module
from gatenet.server.storage import ModelMeta
from gatenet.server.storage.codec import encode_meta, encode_tensors
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


def stored_both_ways(described: spec_codec.Description, result: TrainResult) -> tuple[str, str]:
    """The stored text spliced from the worker's parts, and the text encode_meta writes of
    the document a trained model had before (built field by field: its members in order)."""
    info = spec_codec.model_info("ab" * 16, 1_700_000_000.25, described, result)
    activation = described.recipe.activation
    made = trained_module.finish(described.recipe, result)
    spliced = document.trained_record(
        info, activation, described.spec_json, described.spec_text, made
    )
    reference = document.record(info, activation, result.weights, described.spec_json)
    assert spliced.meta.document == reference.meta.document
    assert spliced.tensors == encode_tensors(info.model_id, result.weights)
    return spliced.meta_text, encode_meta(reference.meta)


@pytest.mark.parametrize("case", REQUESTS)
def test_a_trained_models_stored_text_is_what_encode_meta_writes(case):
    described, result = trained(REQUESTS[case])
    spliced, reference = stored_both_ways(described, result)
    assert spliced == reference


def test_the_stored_text_of_zeros_and_non_finite_losses_is_what_encode_meta_writes():
    described, result = trained(REQUESTS["gate"])
    odd = dataclasses.replace(
        result,
        summary=dataclasses.replace(
            result.summary, fit=False, accuracy=0.0, final_loss=math.nan, restart_index=0
        ),
        loss_curve=[(0, math.nan), (1, 0.0), (2, -math.inf)],
    )
    spliced, reference = stored_both_ways(described, odd)
    assert spliced == reference
    assert '"final_loss":"NaN"' in spliced


def test_a_time_capped_runs_record_and_info_name_the_steps_it_ran():
    described, result = trained(REQUESTS["gate"])
    capped = dataclasses.replace(
        result, summary=dataclasses.replace(result.summary, steps=7, stopped_by="time")
    )
    ran = spec_codec.ran(described, capped.summary)
    info = spec_codec.trained_info(ran, "ab" * 16, 1.5, capped.summary, capped.loss_curve)
    assert info.spec.steps == 7 and described.spec.steps == 20  # the described spec is kept
    record = document.trained_record(
        info, "tanh", ran.spec_json, ran.spec_text, trained_module.finish(ran.recipe, capped)
    )
    assert json.loads(record.meta_text)["document"]["info"]["spec"]["steps"] == 7
    assert document.model_info(record.meta) == info


def test_a_diverged_run_is_not_readied():
    described, result = trained(REQUESTS["gate"])
    weights = dict(result.weights, **{"layers.0.bias": result.weights["layers.0.bias"] * math.inf})
    made = trained_module.finish(described.recipe, dataclasses.replace(result, weights=weights))
    assert not made.finite and made.compiled is None and made.tensors == b""
