"""The fuzz suite: a few hundred seeded raw calls over every method on the real server.

The server must answer each with a clean status: never INTERNAL or UNKNOWN, never
a hang, an error message that does not echo unbounded input, an OK answer that
is right; afterwards it is SERVING and still correct. bench/fuzz.py runs the same
calls by the ten thousand.

Every bug the fuzz found is listed in FOUND with its minimal reproducer, which
asserts the right answer: each is a regression test of its own.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from safetensors.numpy import save as save_safetensors

from gatenet.server.app import GatenetServer
from gatenet.v1 import gatenet_pb2 as pb
from gatenet_testing.fuzz import auth as fuzz_auth
from gatenet_testing.fuzz import calls, generator, lifecycle, runner
from gatenet_testing.fuzz import inference as fuzz_inference

pytestmark = pytest.mark.slow  # real processes or many trainings: make test's second step

SEED = 14
CALLS = 400
EVERY_METHOD = {
    *("Train", "TrainStream", "Predict", "GetWeights", "ListModels", "GetModel"),
    *("DeleteModel", "ImportModel", "Health/Check", "Health/Watch", "Health/List"),
    *("Reflection/Info", calls.UNKNOWN_LABEL),
    *fuzz_inference.LABELS,
}
# A model file of each kind, for generating calls without a server.
_DOCUMENT = json.dumps(
    {
        "model_id": "0" * 32,
        "activation": "tanh",
        "spec": {"gate": {"name": "XOR"}},
        "tensors": {
            "layers.0.weight": {"shape": [2, 1], "values": [1.0, 1.0]},
            "layers.0.bias": {"shape": [1], "values": [0.0]},
        },
    }
)
_FILE = bytes(
    save_safetensors(
        {"layers.0.weight": np.ones((2, 1), np.float32), "layers.0.bias": np.zeros(1, np.float32)},
        metadata={"activation": "tanh"},
    )
)


# -- reproducers of the bugs the fuzz found --------------------------------------------------


def _call(srv: GatenetServer, method: str, body: bytes) -> tuple[grpc.StatusCode, str]:
    """The code and message of one raw unary call."""
    with grpc.insecure_channel(srv.target) as channel:
        try:
            channel.unary_unary(method)(body, timeout=30)
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as err:
            return err.code(), err.details() or ""


def _import(srv: GatenetServer, request: pb.ImportModelRequest) -> None:
    code, details = _call(srv, calls.GATE + "ImportModel", request.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)


def _train_refused(srv: GatenetServer, request: pb.TrainRequest, field: str) -> None:
    code, details = _call(srv, calls.GATE + "Train", request.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details[:200])
    assert details.startswith(field) and len(details) <= 300, details[:200]


def health_list_is_internal(srv: GatenetServer) -> None:
    code, details = _call(srv, calls.HEALTH + "List", b"")
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNIMPLEMENTED), (code, details)


def health_check_of_an_unknown_service_counts_internal(srv: GatenetServer) -> None:
    def counted() -> tuple[int, int]:
        codes = lifecycle.server_codes(srv.prometheus_registry)
        return codes[("Check", "NOT_FOUND")], codes[("Check", "INTERNAL")]

    before = counted()
    body = health_pb2.HealthCheckRequest(service="nope").SerializeToString()
    code, _ = _call(srv, calls.HEALTH + "Check", body)
    assert code == grpc.StatusCode.NOT_FOUND
    # The server counts the call just after the client has its answer: wait for the count.
    give_up = time.monotonic() + 10
    while counted() == before and time.monotonic() < give_up:
        time.sleep(0.01)
    assert counted() == (before[0] + 1, before[1])


def import_of_deeply_nested_json(srv: GatenetServer) -> None:
    _import(srv, pb.ImportModelRequest(json="[" * 5000))


def import_of_a_deeply_nested_safetensors_header(srv: GatenetServer) -> None:
    _import(srv, pb.ImportModelRequest(safetensors=struct.pack("<Q", 5000) + b"[" * 5000))


def import_of_deeply_nested_model_info(srv: GatenetServer) -> None:
    tensors = {
        "layers.0.weight": np.zeros((2, 1), np.float32),
        "layers.0.bias": np.zeros(1, np.float32),
    }
    nested = '{"spec":' * 3000 + "{}" + "}" * 3000
    file = save_safetensors(tensors, metadata={"activation": "tanh", "model_info": nested})
    _import(srv, pb.ImportModelRequest(safetensors=file))


def import_of_an_infinite_shape(srv: GatenetServer) -> None:
    document = '{"tensors": {"layers.0.weight": {"shape": [1e400], "values": []}}}'
    _import(srv, pb.ImportModelRequest(json=document))


def train_echoes_a_gate_name(srv: GatenetServer) -> None:
    _train_refused(srv, pb.TrainRequest(gate=pb.GateTask(name="x" * 20000)), "gate.name")


def train_echoes_an_initial_weights_name(srv: GatenetServer) -> None:
    tensor = pb.Tensor(name="x" * 20000, shape=[1], values=[0.0])
    request = pb.TrainRequest(gate=pb.GateTask(name="XOR"), initial_weights=[tensor])
    _train_refused(srv, request, "initial_weights")


def train_that_overflows_its_parameters(srv: GatenetServer) -> None:
    start = [
        pb.Tensor(name="layers.0.weight", shape=[1, 1], values=[1.0]),
        pb.Tensor(name="layers.0.bias", shape=[1], values=[0.0]),
    ]
    request = pb.TrainRequest(
        examples=pb.ExamplesTask(num_inputs=1, inputs=[3.4e38, 3.4e38], targets=[0, 0]),
        network=pb.Network(no_hidden_layers=True),
        initial_weights=start,
        optimizer=pb.OPTIMIZER_SGD,
        reduction=pb.REDUCTION_SUM,
        steps=1,
        restarts=1,
        seed=0,
    )
    code, details = _call(srv, calls.GATE + "Train", request.SerializeToString())
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (code, details)


def timed_out_trainings_keep_their_client_share(srv: GatenetServer) -> None:
    long = pb.TrainRequest(gate=pb.GateTask(name="XOR"), steps=1_000_000, early_stop=False)
    with grpc.insecure_channel(srv.target) as channel:
        stream = channel.unary_stream(calls.GATE + "TrainStream")(long.SerializeToString())
        try:
            next(stream)  # the first progress event: the worker is busy with it now
            short = pb.TrainRequest(gate=pb.GateTask(name="AND")).SerializeToString()
            train = channel.unary_unary(calls.GATE + "Train")
            # These wait behind the long one and time out: this client has only it left.
            for _ in range(srv.settings.max_trainings_per_client - 1):
                with pytest.raises(grpc.RpcError) as err:
                    train(short, timeout=0.2)
                assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            with pytest.raises(grpc.RpcError) as err:
                train(short, timeout=0.2)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err.value.details()
        finally:
            stream.cancel()


@dataclass(frozen=True)
class FoundBug:
    """A bug the fuzz found, fixed: what was sent and came back, and its reproducer."""

    why: str  # what was sent, what came back, what should
    reproduce: Callable[[GatenetServer], None]  # asserts the right answer


FOUND = (
    FoundBug(
        "Health/List (empty body) -> INTERNAL: grpc's aio HealthServicer does not implement "
        "List (NotImplementedError); expected OK with the statuses, or UNIMPLEMENTED",
        health_list_is_internal,
    ),
    FoundBug(
        "Health/Check(service='nope') -> the client gets NOT_FOUND, but the servicer's "
        "context.abort raises AbortError into the wrapper: logged as 'internal error' with a "
        "traceback and counted INTERNAL",
        health_check_of_an_unknown_service_counts_internal,
    ),
    FoundBug(
        "ImportModel(json='[' * 5000) -> INTERNAL (RecursionError from json.loads); "
        "expected INVALID_ARGUMENT",
        import_of_deeply_nested_json,
    ),
    FoundBug(
        "ImportModel(safetensors=<header length 5000> + '[' * 5000) -> INTERNAL "
        "(RecursionError parsing the header); expected INVALID_ARGUMENT",
        import_of_a_deeply_nested_safetensors_header,
    ),
    FoundBug(
        "ImportModel(safetensors whose metadata model_info nests 3000 objects) -> INTERNAL "
        "(RecursionError in json.loads); expected INVALID_ARGUMENT",
        import_of_deeply_nested_model_info,
    ),
    FoundBug(
        "ImportModel(json with a tensor shape [1e400] or [Infinity]) -> INTERNAL "
        "(OverflowError: int(inf)); expected INVALID_ARGUMENT",
        import_of_an_infinite_shape,
    ),
    FoundBug(
        "Train(gate.name='x' * 20000) -> the message echoes the whole name: the client gets "
        "RESOURCE_EXHAUSTED (metadata size), or a 20,000-character INVALID_ARGUMENT",
        train_echoes_a_gate_name,
    ),
    FoundBug(
        "Train(initial_weights=[Tensor(name='x' * 20000)]) -> the message echoes the whole "
        "name (checks.initial_weights): RESOURCE_EXHAUSTED (metadata size) at the client",
        train_echoes_an_initial_weights_name,
    ),
    FoundBug(
        "Train(examples x=[3.4e38, 3.4e38] y=[0, 0], no hidden layer, initial weight 1, "
        "optimizer SGD, reduction SUM, 1 step) -> INTERNAL: the summed gradient overflows "
        "float32, the weight becomes -inf and the store refuses it (ValueError 'holds NaN or "
        "Inf'); expected a clean answer (fit false, or INVALID_ARGUMENT naming the overflow)",
        train_that_overflows_its_parameters,
    ),
    FoundBug(
        "Trainings whose calls timed out while queued still count against "
        "--max-trainings-per-client until a worker dequeues them: behind one long training, "
        "a client with nothing else in flight gets RESOURCE_EXHAUSTED",
        timed_out_trainings_keep_their_client_share,
    ),
)


@pytest.mark.parametrize(
    "bug",
    FOUND,
    ids=[b.reproduce.__name__ for b in FOUND],
)
def test_a_bug_the_fuzz_found_stays_fixed(server: GatenetServer, bug: FoundBug) -> None:
    """Each reproducer asserts the right answer."""
    bug.reproduce(server)


# -- the fuzz ----------------------------------------------------------------------------------


def test_the_same_seed_makes_the_same_calls() -> None:
    targets = calls.Targets((("fuzz-xor", 2), ("0" * 31 + "1", 2)), ("spare",), _FILE, _DOCUMENT)

    def made(seed: int) -> list[tuple[object, ...]]:
        return [
            (c.path, c.kind, c.bodies, c.timeout, c.metadata)
            for c in generator.FuzzRequests(seed, targets, auth=True).calls(200)
        ]

    assert made(SEED) == made(SEED)
    assert made(SEED) != made(SEED + 1)


def test_every_method_answers_cleanly_and_the_server_stays_right(
    make_server: Callable[..., GatenetServer], tmp_path: Path
) -> None:
    """With auth on: every call carries a fuzzed authorization header, most the admin token."""
    tokens = tmp_path / "tokens"
    tokens.write_text(fuzz_auth.TOKENS_FILE)
    srv = make_server(tokens_file=str(tokens))
    targets, before = lifecycle.prepare(srv.target, fuzz_auth.ADMIN)
    outcomes = runner.run(srv.target, generator.FuzzRequests(SEED, targets, auth=True).calls(CALLS))
    wrong = lifecycle.afterwards(srv.target, targets, before, fuzz_auth.ADMIN)

    assert {o.label for o in outcomes} == EVERY_METHOD
    kinds = {o.auth.split(":")[0] for o in outcomes}
    assert kinds == {"admin", "read", "train", "bad", "odd"}, kinds
    found = [o for o in outcomes if o.finding]
    assert not found, "\n".join(runner.findings(found))
    # The server's own count: a client can see NOT_FOUND where the server logged INTERNAL.
    counted = lifecycle.server_codes(srv.prometheus_registry)
    assert not {k: n for k, n in counted.items() if k[1] in ("INTERNAL", "UNKNOWN")}
    assert not wrong
