"""Before and after the calls: the models they target, the server's health and answers, codes."""

from __future__ import annotations

import json
from collections import Counter

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet.vocabulary import enums, gates
from gatenet_testing.fuzz.calls import (
    Metadata,
    Targets,
)
from gatenet_testing.fuzz.runner import SERVING

# -- before and after --------------------------------------------------------------------------

_WIDE_ROWS = [[float((i >> (j % 3)) & 1) for j in range(64)] for i in range(8)]
# Models the calls read but never delete; each also by its id. They span the activations,
# table-answered inputs (<= 8) and numpy-answered ones (64).
KEEPERS = (
    pb.TrainRequest(name="fuzz-xor", gate=pb.GateTask(name="XOR"), seed=1),
    pb.TrainRequest(
        name="fuzz-and3",
        gate=pb.GateTask(name="AND", num_inputs=3),
        network=pb.Network(hidden_sizes=[5], activation=pb.ACTIVATION_SIGMOID),
        seed=2,
    ),
    pb.TrainRequest(
        name="fuzz-wide",
        examples=pb.ExamplesTask(
            num_inputs=64,
            inputs=[v for row in _WIDE_ROWS for v in row],
            targets=[float(i % 2) for i in range(8)],
        ),
        network=pb.Network(hidden_sizes=[8], activation=pb.ACTIVATION_RELU),
        steps=200,
        seed=3,
    ),
)
XOR_ROWS = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
SPARES = 4  # imported copies DeleteModel calls may remove


def prepare(target: str, metadata: Metadata = ()) -> tuple[Targets, dict[str, pb.PredictResponse]]:
    """Train the kept models, import the spares; the targets and the kept models' answers."""
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GateServiceStub(channel)
        kept: list[tuple[str, int]] = []
        for request in KEEPERS:
            info = stub.Train(request, timeout=120, metadata=metadata)
            kept += [(info.name, info.num_inputs), (info.model_id, info.num_inputs)]
        weights = stub.GetWeights(
            pb.GetWeightsRequest(model="fuzz-xor", include_safetensors=True),
            timeout=30,
            metadata=metadata,
        )
        document = weights_json(weights)
        spares = []
        for i in range(SPARES):
            request = pb.ImportModelRequest(json=document, name=f"fuzz-spare-{i}")
            info = stub.ImportModel(request, timeout=30, metadata=metadata)
            spares.append(info.name if i % 2 else info.model_id)
        targets = Targets(tuple(kept), tuple(spares), weights.safetensors, document)
        return targets, answers(stub, targets, metadata)


def weights_json(weights: pb.GetWeightsResponse) -> str:
    """The document `gatenet weights --json` writes for these weights."""
    activation = enums.enum_name("activation", weights.spec.network.activation)
    return json.dumps(
        {
            "model_id": weights.model_id,
            "activation": activation,
            "spec": json_format.MessageToDict(weights.spec, preserving_proto_field_name=True),
            "tensors": {
                t.name: {"shape": list(t.shape), "values": list(t.values)} for t in weights.tensors
            },
        }
    )


def answers(
    stub: pb_grpc.GateServiceStub, targets: Targets, metadata: Metadata = ()
) -> dict[str, pb.PredictResponse]:
    """Each kept model's answer to fixed rows: every 0/1 row, or the wide model's own rows."""
    out = {}
    for ref, inputs in targets.kept:
        rows = _WIDE_ROWS if inputs > 8 else gates.table_inputs(inputs).tolist()
        request = pb.PredictRequest(model=ref, inputs=[float(v) for row in rows for v in row])
        out[ref] = stub.Predict(request, timeout=30, metadata=metadata)
    return out


def afterwards(
    target: str,
    targets: Targets,
    before: dict[str, pb.PredictResponse],
    metadata: Metadata = (),
) -> list[str]:
    """What is wrong with the server after the run: health, a fresh XOR, the kept models."""
    wrong = []
    with grpc.insecure_channel(target) as channel:
        try:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "gatenet.v1.GateService"):
                status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                if status.status != SERVING:
                    wrong.append(f"health of {service!r} is {status.status}, not SERVING")
            stub = pb_grpc.GateServiceStub(channel)
            model_id = train_xor(stub, metadata)
            xor = stub.Predict(
                pb.PredictRequest(model=model_id, inputs=XOR_ROWS), timeout=30, metadata=metadata
            )
            if list(xor.labels) != [0, 1, 1, 0]:
                wrong.append(f"a fresh XOR predicts {list(xor.labels)}, not [0, 1, 1, 0]")
            for ref, answer in answers(stub, targets, metadata).items():
                if answer != before[ref]:
                    wrong.append(f"kept model {ref} answers {answer} after, {before[ref]} before")
        except grpc.RpcError as err:
            wrong.append(f"{err.code().name}: {err.details()}")
    return wrong


def train_xor(stub: pb_grpc.GateServiceStub, metadata: Metadata = ()) -> str:
    """A fresh XOR model's id: one Train, with no retry. The run's timed-out trainings left
    this client's share as their calls ended (a queued one at once, a running one as its
    worker stopped), so RESOURCE_EXHAUSTED here is a finding."""
    request = pb.TrainRequest(gate=pb.GateTask(name="XOR"), seed=7)
    return str(stub.Train(request, timeout=60, metadata=metadata).model_id)


def server_codes(registry: CollectorRegistry) -> Counter[tuple[str, str]]:
    """Calls the server itself counted, by (method, code) (grpc_server_handled_total)."""
    counts: Counter[tuple[str, str]] = Counter()
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "grpc_server_handled_total" and sample.value:
                key = (sample.labels["grpc_method"], sample.labels["grpc_code"])
                counts[key] += int(sample.value)
    return counts
