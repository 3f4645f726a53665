"""Seeded fuzz calls for every method on gatenet's port as raw bytes, and the runner that
sends them and judges the answers.

`FuzzRequests(seed, targets, auth).calls(n)` gives the same calls for the same seed and
targets: GateService, KServe V2 (fuzz_inference.py), health, reflection and unknown
methods, ImportModel with damaged files (fuzz_files.py) and, with auth, a fuzzed
authorization header on each (fuzz_auth.py). Bodies are built by hand where protobuf
would refuse (invalid UTF-8, wrong wire types, -1 in an unsigned field); everything
else starts from a valid
message and appends one mutated field, which protobuf merges over the original
(the last value of a scalar wins, repeated fields grow).

`prepare` trains the models the calls refer to, `run` sends the calls concurrently
and records (method, code) per call with a finding when the answer is one a
server must never give, and `afterwards` checks the server is healthy and still
answers right.
tests/fuzz/test_fuzz.py runs a few hundred calls; bench/fuzz.py runs 10,000 and more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client import CollectorRegistry

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet.vocabulary import enums, gates
from gatenet.vocabulary.wire import length_delimited, tag, varint
from gatenet_testing import fuzz_auth, fuzz_inference
from gatenet_testing.fuzz_files import hostile_json, hostile_safetensors

GATE = "/gatenet.v1.GateService/"
HEALTH = "/grpc.health.v1.Health/"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
UNKNOWN_LABEL = "(unknown method)"
Metadata = tuple[tuple[str, str], ...]  # call headers: the admin token when auth is on

# -- values at the edges, by wire encoding -------------------------------------------------

# -1 goes out as the 10-byte varint protobuf writes for int64 -1; 2**32 overflows uint32.
INTS = (0, 1, -1, 2, 3, 7, 99, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1)
_F32_VALUES = (0.0, -0.0, 1.0, 0.5, math.nan, math.inf, -math.inf, 3.4e38, -3.4e38, 1e-45, 1e30)
FLOAT32 = tuple(struct.pack("<f", v) for v in _F32_VALUES) + (b"\x01\x00\x80\x7f",)  # sNaN
_F64_VALUES = (
    *(0.0, -0.0, 1.0, math.nan, math.inf, -math.inf, 3.4e38, 1e-300, 5e-324, 0.5, 1000.0),
    *(1.7976931348623157e308, -1.7976931348623157e308, 0.49999999999999994, 1000.0000000000002),
)
FLOAT64 = tuple(struct.pack("<d", v) for v in _F64_VALUES)
STRINGS = (
    b"",
    b"\xff\xfe",  # never valid UTF-8
    b"\xc0\x80",  # overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"a\x00b",
    b"\x07\x1b[31m\r\n\t",
    "²".encode(),
    "\u202eledom".encode(),
    "😀".encode() * 50,
    b"9" * 19,
    b"9" * 5000,
    b"x" * 20000,
    b" xor ",
    b"XOR",
    b"layers.0.weight",
    b"0" * 32,
    b"%s%n{}'\"",
)


# -- the wire, by hand ----------------------------------------------------------------------


def scalar(number: int, wire_type: int, payload: bytes) -> bytes:
    """A varint (payload already encoded), fixed64 or fixed32 field."""
    return tag(number, wire_type) + payload


# -- what the calls may refer to -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Targets:
    """Models and files the calls refer to; `kept` ones are never deleted by a call."""

    kept: tuple[tuple[str, int], ...]  # (id or name, num_inputs)
    disposable: tuple[str, ...]  # ids or names a DeleteModel may remove
    safetensors: bytes  # a real GetWeights(include_safetensors) file
    weights_json: str  # a real `gatenet weights --json` document


@dataclasses.dataclass(frozen=True)
class Call:
    """One fuzzed call: where it goes, its raw request bodies, its deadline, how it was made."""

    label: str  # the method as counted: "Train", "Health/Watch", UNKNOWN_LABEL, ...
    path: str  # the method's full path on the wire
    shape: str  # "unary", "server_stream" or "bidi"
    bodies: tuple[bytes, ...]  # exactly one unless bidi (then any number, none too)
    timeout: float  # seconds
    kind: str  # the mutation that made it, for reproducers
    gzip: bool = False  # sent compressed: the server inflates it, within its size limit
    metadata: tuple[tuple[str, str | bytes], ...] = ()  # the call headers (authorization)
    auth: str = ""  # what the authorization header is (fuzz_auth): "admin", "bad:...", ...

    def describe(self, limit: int = 120) -> str:
        """A short account of the call: its path, mutation, deadline and the bodies' first bytes."""
        path = self.path if len(self.path) <= limit else f"{self.path[:limit]}…"
        shown = [b[:limit].hex() + ("…" if len(b) > limit else "") for b in self.bodies]
        sizes = [len(b) for b in self.bodies]
        how = (" gzip" if self.gzip else "") + (f" auth={self.auth}" if self.auth else "")
        return f"{path} [{self.kind}]{how} timeout={self.timeout:.2f}s bytes={sizes} hex={shown}"


# -- mutations of one message ------------------------------------------------------------------


def _extreme_payload(rng: random.Random, field: FieldDescriptor) -> tuple[int, bytes, str]:
    """(wire type, payload, description) of an edge value of the field's own type."""
    t = field.type
    if t == FieldDescriptor.TYPE_FLOAT:
        raw = rng.choice(FLOAT32)
        return 5, raw, repr(struct.unpack("<f", raw)[0])
    if t == FieldDescriptor.TYPE_DOUBLE:
        raw = rng.choice(FLOAT64)
        return 1, raw, repr(struct.unpack("<d", raw)[0])
    if t in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        raw = rng.choice(STRINGS)
        return 2, varint(len(raw)) + raw, f"{raw[:12]!r}x{len(raw)}"
    n = rng.choice(INTS)  # every varint kind: ints, enums (out of range too), bools
    return 0, varint(n), str(n)


def extreme_field(rng: random.Random, desc: Descriptor, depth: int = 0) -> tuple[bytes, str]:
    """One field of `desc` with an edge value; message fields recurse into one of theirs."""
    field = rng.choice(desc.fields)
    if field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
        inner, what = extreme_field(rng, field.message_type, depth + 1)
        return length_delimited(field.number, inner), f"{field.name}.{what}"
    wire, payload, what = _extreme_payload(rng, field)
    if wire == 2:
        return tag(field.number, 2) + payload, f"{field.name}={what}"
    return scalar(field.number, wire, payload), f"{field.name}={what}"


def _string_paths(desc: Descriptor, depth: int = 0) -> list[list[FieldDescriptor]]:
    """Every string or bytes field, through nested messages, as the chain of fields to it."""
    paths: list[list[FieldDescriptor]] = []
    for field in desc.fields:
        if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            paths.append([field])
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
            paths += [[field, *rest] for rest in _string_paths(field.message_type, depth + 1)]
    return paths


def hostile_string(rng: random.Random, desc: Descriptor) -> tuple[bytes, str]:
    """A string field anywhere in the message set to invalid UTF-8, controls or 20,000 chars."""
    paths = _string_paths(desc)
    if not paths:
        return unknown_field(rng)
    path, raw = rng.choice(paths), rng.choice(STRINGS)
    encoded = length_delimited(path[-1].number, raw)
    for field in reversed(path[:-1]):
        encoded = length_delimited(field.number, encoded)
    return encoded, ".".join(f.name for f in path) + f"={raw[:12]!r}x{len(raw)}"


def wrong_wire_type(rng: random.Random, desc: Descriptor) -> tuple[bytes, str]:
    """A known field number sent with a wire type its type does not use."""
    field = rng.choice(desc.fields)
    wire = rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
    payload = {0: varint(rng.choice(INTS)), 1: bytes(8), 2: b"\x03abc", 5: bytes(4)}.get(wire, b"")
    return tag(field.number, wire) + payload, f"{field.name}:wire{wire}"


def unknown_field(rng: random.Random) -> tuple[bytes, str]:
    """A field number no message has (or none may have: 0, and past the 29-bit range)."""
    number = rng.choice([99, 1000, 2**29 - 1, 19000, 0, 2**29])
    wire = rng.choice([0, 1, 2, 5])
    payload = {0: varint(2**64 - 1), 1: bytes(8), 2: b"\x05hello", 5: bytes(4)}[wire]
    return tag(number, wire) + payload, f"unknown#{number}:wire{wire}"


def oversized_repeated(rng: random.Random, desc: Descriptor) -> tuple[bytes, str]:
    """A repeated field (or, when none, a string) packed with up to ~1M values."""
    repeated = [f for f in desc.fields if f.is_repeated]
    count = rng.choice([1000, 65_537, 1_000_000])
    scalars = [f for f in repeated if f.type != FieldDescriptor.TYPE_MESSAGE]
    if not scalars:
        field = rng.choice(desc.fields)
        return length_delimited(field.number, b"y" * count), f"{field.name}=y*{count}"
    field = rng.choice(scalars)
    if field.type == FieldDescriptor.TYPE_FLOAT:
        unit = rng.choice(FLOAT32)
    elif field.type == FieldDescriptor.TYPE_DOUBLE:
        unit, count = rng.choice(FLOAT64), count // 2
    else:
        unit = varint(rng.choice([0, 1, 2**32 - 1]))
    return length_delimited(field.number, unit * count), f"{field.name}x{count}"


def mutate(rng: random.Random, base: bytes, desc: Descriptor) -> tuple[bytes, str]:
    """A valid body, or one mutation of it: noise, a cut, a flipped bit, or a field appended."""
    roll = rng.random()
    if roll < 0.30:
        return base, "valid"
    if roll < 0.36:
        return rng.randbytes(rng.choice([1, 7, 64, 2000])), "random_bytes"
    if roll < 0.42 and base:
        return base[: rng.randrange(len(base))], "truncated"
    if roll < 0.47 and base:
        i = rng.randrange(len(base))
        flipped = base[:i] + bytes([base[i] ^ 1 << rng.randrange(8)]) + base[i + 1 :]
        return flipped, f"bit_flip@{i}"
    if not desc.fields:  # nothing to mutate (HealthListRequest): a field it does not know
        extra, what = unknown_field(rng)
    elif roll < 0.72:
        extra, what = extreme_field(rng, desc)
    elif roll < 0.82:
        extra, what = hostile_string(rng, desc)
    elif roll < 0.90:
        extra, what = wrong_wire_type(rng, desc)
    elif roll < 0.96:
        extra, what = unknown_field(rng)
    else:
        extra, what = oversized_repeated(rng, desc)
    return base + extra, what


# -- Train recipes -----------------------------------------------------------------------------

RECIPE_OPTIONS: dict[str, list[object]] = {
    "steps": [1, 2, 50, 1000, 1_000_000],
    "restarts": [1, 2, 12, 100, 1024],
    "learning_rate": [1e-300, 0.01, 0.5, 1000.0],
    "momentum": [0.0, 0.9, 0.999999],
    "schedule": [1, 2, 3],
    "seed": [0, 1, 2**63, 2**64 - 1025, 2**64 - 1],
    "early_stop": [False, True],
    "margin": [0.0, 0.25, 0.4999999],
    "check_every": [1, 3, 999_999],
}


def _make_coherent(request: pb.TrainRequest) -> None:
    """Drop the combinations the server refuses whatever the values (the rest stays extreme)."""
    if request.method == pb.METHOD_PERCEPTRON:
        request.network.ClearField("hidden_sizes")
        request.ClearField("optimizer")
        request.ClearField("momentum")
    elif request.HasField("momentum"):
        request.optimizer = pb.OPTIMIZER_SGD
    rule = gates.gate(request.gate.name)
    if rule is not None and rule.most is not None:  # a gate of fixed arity: its natural one
        request.gate.num_inputs = rule.natural
    if request.HasField("seed") and request.seed > 2**64 - 1025:
        request.seed = 2**64 - 1025  # restart k uses seed + k: it must stay a uint64


def _widths(request: pb.TrainRequest, inputs: int) -> list[int]:
    """Layer widths, inputs to the output unit, as the server will resolve the network."""
    if request.network.no_hidden_layers or request.method == pb.METHOD_PERCEPTRON:
        return [inputs, 1]
    hidden = list(request.network.hidden_sizes) or [max(4, min(2 * inputs, 24))]
    return [inputs, *hidden, 1]


# -- the generator -----------------------------------------------------------------------------


class FuzzRequests:
    """Seeded calls over every method on the port: the same seed and targets, the same calls."""

    def __init__(self, seed: int, targets: Targets, auth: bool = False) -> None:
        self.rng = random.Random(seed)
        self.targets = targets
        self.auth = auth  # the server has auth on: each call carries a fuzzed header
        self._fresh = 0
        # (weight, maker); trainings weigh less: a valid one holds a worker until its deadline.
        self._makers: list[tuple[float, Callable[[], Call]]] = [
            (1.0, self.train),
            (0.6, self.train_stream),
            (2.0, self.predict),
            (1.0, self.get_weights),
            (1.0, self.list_models),
            (1.0, self.get_model),
            (0.7, self.delete_model),
            (1.2, self.import_model),
            (2.0, self.v2),
            (0.8, self.health_check),
            (0.3, self.health_watch),
            (0.3, self.health_list),
            (0.6, self.reflection),
            (0.6, self.unknown_method),
        ]

    def calls(self, n: int) -> Iterator[Call]:
        """The next n calls, made as they are taken (a body can be 4 MB: they are not kept)."""
        for _ in range(n):
            yield self.next()

    def next(self) -> Call:
        """One call to a method drawn by weight, one in ten of them compressed; with auth, its
        authorization header."""
        weights = [w for w, _ in self._makers]
        call = self.rng.choices([m for _, m in self._makers], weights)[0]()
        if self.rng.random() < 0.1:
            call = dataclasses.replace(call, gzip=True)
        if self.auth:
            auth, metadata = fuzz_auth.authorization(self.rng)
            call = dataclasses.replace(call, auth=auth, metadata=metadata)
        return call

    # -- references ----------------------------------------------------------------------------

    def model_ref(self, deletable: bool = False) -> str:
        """A model that exists (kept, or a disposable one), a near miss, or garbage."""
        rng, roll = self.rng, self.rng.random()
        if roll < 0.5:
            return rng.choice(self.targets.kept)[0]
        if roll < 0.6 or (deletable and roll < 0.75):
            return rng.choice(self.targets.disposable)
        near = rng.choice(self.targets.kept)[0]
        return rng.choice(
            [near.upper(), near[:-1], near + " ", "0" * 32, "fuzz-missing", rng.randbytes(8).hex()]
        )

    def name(self) -> str:
        """A name for a new model: none, fresh, taken, or one the server must refuse."""
        self._fresh += 1
        return self.rng.choice(
            [
                "",
                f"fuzz-new-{self._fresh}",
                self.targets.kept[0][0],
                "n" * 201,
                " padded",
                "tab\there",
                "a" * 32,
                "é" * 200,
            ]
        )

    def _call(self, method: str, base: bytes, desc: Descriptor, timeout: float) -> Call:
        body, kind = mutate(self.rng, base, desc)
        shape = "server_stream" if method == "TrainStream" else "unary"
        return Call(method, GATE + method, shape, (body,), timeout, kind)

    # -- GateService ---------------------------------------------------------------------------

    def train(self, method: str = "Train") -> Call:
        """A recipe at the edges of the limits, with a short deadline."""
        request = self.recipe()
        timeout = self.rng.uniform(0.2, 1.0)
        return self._call(method, request.SerializeToString(), pb.TrainRequest.DESCRIPTOR, timeout)

    def train_stream(self) -> Call:
        """TrainStream with the same recipes as Train."""
        return self.train("TrainStream")

    def recipe(self) -> pb.TrainRequest:
        """A TrainRequest at the edges of the limits: big, deep, many restarts, odd batches."""
        rng = self.rng
        request = pb.TrainRequest(name=rng.choice(["", "", f"fuzz-new-{rng.getrandbits(32)}"]))
        inputs = self._task(request)
        hidden = rng.choice(
            [[], [1], [4], [1024], [1024, 970], [64] * 8, [rng.randint(1, 1024)], [3, 5, 7]]
        )
        request.network.hidden_sizes[:] = hidden
        request.network.activation = rng.choice([0, 1, 2, 3])
        request.network.no_hidden_layers = not hidden and rng.random() < 0.5
        request.method = rng.choice([0, 1, 2, 3])
        request.loss, request.reduction = rng.choice([0, 1, 2]), rng.choice([0, 1, 2])
        request.optimizer = rng.choice([0, 1, 2])
        request.init = rng.choice(range(7))
        for field, values in RECIPE_OPTIONS.items():
            if rng.random() < 0.4:
                setattr(request, field, rng.choice(values))
        if request.schedule == pb.SCHEDULE_MINI_BATCH and rng.random() < 0.7:
            request.batch_size = rng.choice([1, 3, 7, 13, 2**inputs - 1 if inputs < 13 else 5])
        if rng.random() < 0.8:  # mostly coherent, so most recipes reach a worker
            _make_coherent(request)
        if rng.random() < 0.3:  # small enough to finish in time: OK answers get judged too
            request.steps, request.restarts = rng.choice([1, 5, 50]), rng.choice([1, 2])
            request.network.hidden_sizes[:] = hidden[:1] if hidden and hidden[0] <= 64 else []
        if rng.random() < 0.25:
            request.initial_weights.extend(self._initial_weights(inputs, _widths(request, inputs)))
        return request

    def _task(self, request: pb.TrainRequest) -> int:
        """Fill one of the three tasks; return its number of inputs."""
        rng, roll = self.rng, self.rng.random()
        if roll < 0.45:
            name = rng.choice(gates.GATE_NAMES)
            request.gate.name = name.upper() if rng.random() < 0.9 else f" {name} "
            natural = gates.GATES[name].natural
            n = rng.choice([0, natural, 3, 12])
            request.gate.num_inputs = n
            return n or natural
        if roll < 0.75:
            n = rng.choice([1, 2, 3, 8, 12])
            request.truth_table.num_inputs = n
            request.truth_table.outputs[:] = [rng.randint(0, 1) for _ in range(2**n)]
            return n
        n = rng.choice([1, 2, 5, 64])
        rows = rng.choice([1, 3, 17, 4096 // n])
        request.examples.num_inputs = n
        values = [0.0, 1.0, -1.0, 3.4e38, -3.4e38, 1e-45, 0.5]
        request.examples.inputs[:] = [rng.choice(values) for _ in range(rows * n)]
        request.examples.targets[:] = [rng.randint(0, 1) for _ in range(rows)]
        return n

    def _initial_weights(self, inputs: int, widths: list[int]) -> list[pb.Tensor]:
        """Every layer's tensors with the right shapes, or one of them wrong."""
        rng = self.rng
        if sum(a * b for a, b in zip(widths, widths[1:], strict=False)) > 200_000:
            widths = [inputs, 4, 1]  # stay well under the message limit
        value = rng.choice([0.0, 0.1, -1.0, 3.4e38])
        tensors = []
        for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:], strict=False)):
            tensors.append(pb.Tensor(name=f"layers.{i}.weight", shape=[fan_in, fan_out]))
            tensors.append(pb.Tensor(name=f"layers.{i}.bias", shape=[fan_out]))
        wrong = rng.choice(["none", "none", "transposed", "off_by_one", "65_dims", "missing"])
        if wrong == "transposed":
            tensors[0].shape[:] = list(reversed(tensors[0].shape))
        elif wrong == "off_by_one":
            tensors[-1].shape[0] += 1
        elif wrong == "65_dims":
            tensors[1].shape[:] = [1] * 64 + [tensors[1].shape[0]]
        elif wrong == "missing":
            tensors.pop()
        for t in tensors:
            t.values[:] = [value] * math.prod(t.shape)
        return tensors

    def predict(self) -> Call:
        """Rows for an existing model (right, ragged, huge or non-finite), or for garbage."""
        rng = self.rng
        ref, inputs = rng.choice(self.targets.kept)
        if rng.random() < 0.2:
            ref = self.model_ref()
        rows = rng.choice([1, 2, 4, 1024, 65_536 // max(inputs, 1), 65_537])
        rows = min(rows, 900_000 // max(inputs, 1))  # the body stays under the message limit
        per_row = inputs if rng.random() < 0.85 else rng.choice([inputs + 1, 1, 64])
        value = rng.choice([0.0, 1.0, 0.5, -2.0, 3.4e38, -3.4e38, 1e-45, 1e30])
        mixed = rng.random() < 0.5
        count = rows * per_row - (1 if rng.random() < 0.05 else 0)  # sometimes one short
        if mixed and count <= 4096:
            values = [rng.choice([0.0, 1.0, value]) for _ in range(count)]
        else:
            values = [value] * count
        request = pb.PredictRequest(
            model=ref, inputs=values, num_features=rng.choice([0, 0, inputs, inputs + 1])
        )
        base = request.SerializeToString()
        if rng.random() < 0.1:  # rows sent unpacked: a valid encoding the fast path declines
            packed = length_delimited(2, struct.pack(f"<{count}f", *values))
            unpacked = b"".join(scalar(2, 5, struct.pack("<f", v)) for v in values[:4096])
            base = base.replace(packed, unpacked, 1)
        return self._call("Predict", base, pb.PredictRequest.DESCRIPTOR, 10.0)

    def get_weights(self) -> Call:
        """Weights of an existing model or a missing one, with or without the file."""
        request = pb.GetWeightsRequest(
            model=self.model_ref(), include_safetensors=self.rng.random() < 0.5
        )
        return self._call(
            "GetWeights", request.SerializeToString(), pb.GetWeightsRequest.DESCRIPTOR, 10.0
        )

    def list_models(self) -> Call:
        """Pages of every size, tokens issued or forged, prefixes of any kind."""
        rng = self.rng
        token = rng.choice(
            ["", "1", "2", "0", "01", "-1", "+1", " 1", "²", "١", "9" * 19, "9" * 5000, "x" * 20000]
            + [str(2**63 - 1), str(2**63), "1e3", "0x10", "\x00"]
        )
        request = pb.ListModelsRequest(
            page_size=rng.choice([0, 1, 2, 7, 100, 1000, 1001, 2**32 - 1]),
            page_token=token,
            name_prefix=rng.choice(["", "fuzz", "fuzz-xor", "\x00", "%", "_", "*", "é" * 300]),
        )
        return self._call(
            "ListModels", request.SerializeToString(), pb.ListModelsRequest.DESCRIPTOR, 10.0
        )

    def get_model(self) -> Call:
        """Info of an existing model, a near miss or garbage."""
        request = pb.GetModelRequest(model=self.model_ref())
        return self._call(
            "GetModel", request.SerializeToString(), pb.GetModelRequest.DESCRIPTOR, 10.0
        )

    def delete_model(self) -> Call:
        """Delete a disposable model (once; then NOT_FOUND) or a missing one; never a kept one."""
        ref = self.model_ref(deletable=True)
        if any(ref == kept for kept, _ in self.targets.kept):
            ref = self.rng.choice(self.targets.disposable)
        request = pb.DeleteModelRequest(model=ref)
        body, kind = mutate(self.rng, request.SerializeToString(), pb.DeleteModelRequest.DESCRIPTOR)
        if kind == "valid" or kind.startswith("unknown#"):
            return Call("DeleteModel", GATE + "DeleteModel", "unary", (body,), 10.0, kind)
        # A mutated body could name a kept model by chance (a cut to a prefix that is one):
        # mutations get a ref the server cannot hold, so a kept model is never deleted.
        request.model = "fuzz-missing-" + self.rng.randbytes(4).hex()
        body, kind = mutate(self.rng, request.SerializeToString(), pb.DeleteModelRequest.DESCRIPTOR)
        return Call("DeleteModel", GATE + "DeleteModel", "unary", (body,), 10.0, kind)

    def import_model(self) -> Call:
        """A real file (as sent, or with a hostile part) as safetensors or JSON."""
        rng = self.rng
        request = pb.ImportModelRequest(name=self.name())
        if rng.random() < 0.5:
            request.json = hostile_json(rng, self.targets.weights_json)
        else:
            request.safetensors = hostile_safetensors(rng, self.targets.safetensors)
        return self._call(
            "ImportModel", request.SerializeToString(), pb.ImportModelRequest.DESCRIPTOR, 10.0
        )

    def v2(self) -> Call:
        """A KServe V2 call (fuzz_inference.py): ModelInfer most often."""
        method, message = fuzz_inference.request(self.rng, self.targets.kept, self.model_ref)
        body, kind = mutate(self.rng, message.SerializeToString(), message.DESCRIPTOR)
        path = fuzz_inference.SERVICE + method
        return Call(f"V2/{method}", path, "unary", (body,), 10.0, kind)

    # -- health, reflection, methods nobody serves -----------------------------------------------

    def _service_name(self) -> str:
        return self.rng.choice(
            ["", "gatenet.v1.GateService", "gatenet.store", "grpc.health.v1.Health", "nope"]
            + ["x" * 20000, "\x00", "é"]
        )

    def health_check(self) -> Call:
        """Health.Check for known, unknown and hostile service names."""
        base = health_pb2.HealthCheckRequest(service=self._service_name()).SerializeToString()
        body, kind = mutate(self.rng, base, health_pb2.HealthCheckRequest.DESCRIPTOR)
        return Call("Health/Check", HEALTH + "Check", "unary", (body,), 10.0, kind)

    def health_watch(self) -> Call:
        """Health.Watch: a stream that only ends at its (short) deadline."""
        base = health_pb2.HealthCheckRequest(service=self._service_name()).SerializeToString()
        body, kind = mutate(self.rng, base, health_pb2.HealthCheckRequest.DESCRIPTOR)
        timeout = self.rng.uniform(0.2, 0.5)
        return Call("Health/Watch", HEALTH + "Watch", "server_stream", (body,), timeout, kind)

    def health_list(self) -> Call:
        """Health.List: an empty request, or noise."""
        body, kind = mutate(self.rng, b"", health_pb2.HealthListRequest.DESCRIPTOR)
        return Call("Health/List", HEALTH + "List", "unary", (body,), 10.0, kind)

    def reflection(self) -> Call:
        """A reflection stream of one to three requests, the last one possibly mutated."""
        rng, desc = self.rng, reflection_pb2.ServerReflectionRequest.DESCRIPTOR
        bodies = [
            self._reflection_request().SerializeToString() for _ in range(rng.choice([1, 2, 3]))
        ]
        # Only the last: a server that ends the call on a bad request races the client's next
        # write, and grpc's client then reports its own INTERNAL ("Internal error from Core").
        bodies[-1], kind = mutate(rng, bodies[-1], desc)
        return Call("Reflection/Info", REFLECTION, "bidi", tuple(bodies), 10.0, kind)

    def _reflection_request(self) -> reflection_pb2.ServerReflectionRequest:
        rng, request = self.rng, reflection_pb2.ServerReflectionRequest
        symbol = rng.choice(
            ["gatenet.v1.GateService", "gatenet.v1.TrainRequest", "nope.Nope", "", "x" * 20000]
        )
        extension = reflection_pb2.ExtensionRequest(
            containing_type=symbol, extension_number=rng.choice([0, 1, 2**31 - 1])
        )
        filename = rng.choice(["gatenet/v1/gatenet.proto", "nope.proto", "../" * 100])
        return rng.choice(
            [
                request(list_services=""),
                request(file_containing_symbol=symbol),
                request(file_by_filename=filename),
                request(all_extension_numbers_of_type=symbol),
                request(file_containing_extension=extension),
                request(host="h" * 1000, list_services="*"),
            ]
        )

    def unknown_method(self) -> Call:
        """A path nobody registered, in any call shape, with any body."""
        rng = self.rng
        path = rng.choice(
            [
                GATE + "Nope",
                GATE + "predict",
                GATE,
                "/gatenet.v1.GateService",
                "/gatenet.v2.GateService/Predict",
                HEALTH + "Nope",
                "/grpc.reflection.v1.ServerReflection/Nope",
                "/x",
                "/a/b/c",
                "/" + "m" * 2000,
                "/%00/%ff",
            ]
        )
        shape = rng.choice(["unary", "server_stream", "bidi"])
        # No body on a bidi call: the server answers before reading one, and a write racing
        # that answer makes grpc's client report its own INTERNAL ("Internal error from Core").
        bodies = () if shape == "bidi" else (rng.randbytes(rng.choice([0, 5, 100])),)
        return Call(UNKNOWN_LABEL, path, shape, bodies, 10.0, f"unknown_method:{shape}")


# -- the runner ----------------------------------------------------------------------------------

# Characters of an error message. The longest the server writes from its own values lists a
# 9-layer network's 18 parameter names (~370); anything longer echoes client input.
MESSAGE_LIMIT = 400
# These calls run into their short deadlines on purpose; any other call gets 10 s, and running
# out of that is a hang.
SHORT_DEADLINES = ("Train", "TrainStream", "Health/Watch")
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one call got back, and what was wrong with it ("" when nothing was)."""

    label: str  # Call.label
    kind: str  # Call.kind
    auth: str  # Call.auth
    code: str  # grpc.StatusCode name
    details: str
    seconds: float
    finding: str  # a fault of the server's ("INTERNAL: ...", "hang", "NaN with OK", ...)
    reproducer: str  # Call.describe() when there is a finding: bodies are not kept otherwise


async def send(channel: grpc.aio.Channel, call: Call) -> Outcome:
    """Send one call's raw bytes; record its code and judge an OK answer."""
    start = time.perf_counter()
    responses: list[bytes] = []
    code, details = "OK", ""
    options = {"timeout": call.timeout, "compression": grpc.Compression.Gzip if call.gzip else None}
    if call.metadata:
        options["metadata"] = call.metadata
    try:
        if call.shape == "unary":
            responses.append(await channel.unary_unary(call.path)(call.bodies[0], **options))
        else:
            if call.shape == "server_stream":
                stream = channel.unary_stream(call.path)(call.bodies[0], **options)
            else:
                stream = channel.stream_stream(call.path)(iter(call.bodies), **options)
            async for response in stream:
                responses.append(response)
    except grpc.aio.AioRpcError as err:
        code, details = err.code().name, err.details() or ""
    seconds = time.perf_counter() - start
    finding = _finding(call, code, details, responses)
    reproducer = call.describe() if finding else ""
    return Outcome(call.label, call.kind, call.auth, code, details, seconds, finding, reproducer)


def _finding(call: Call, code: str, details: str, responses: list[bytes]) -> str:
    if code in ("INTERNAL", "UNKNOWN"):
        return f"{code}: {details[:200]!r}"
    wrong_auth = fuzz_auth.finding(call.auth, call.label, code)
    if wrong_auth:
        return wrong_auth
    if len(details) > MESSAGE_LIMIT:
        return f"{code} with a {len(details)}-character message: {details[:120]!r}..."
    if "metadata size exceeds" in details:  # grpc refused the server's own status message
        return f"unbounded echo: {details[:200]!r}"
    if code == "DEADLINE_EXCEEDED" and call.label not in SHORT_DEADLINES:
        return f"hang: no answer within {call.timeout:.0f} s"
    return judge(call.label, responses) if code == "OK" else ""


def judge(label: str, responses: list[bytes]) -> str:
    """Why an OK answer is wrong, or "" when it is right as far as the request alone can tell."""
    if label == UNKNOWN_LABEL:
        return "a method nobody serves answered OK"
    if label.startswith("V2/"):
        return fuzz_inference.judge(label, responses[0])
    if label == "Predict":
        return _judge_predict(pb.PredictResponse.FromString(responses[0]))
    if label == "Train":
        return _judge_model(pb.ModelInfo.FromString(responses[0]))
    if label == "TrainStream":
        last = pb.TrainEvent.FromString(responses[-1]) if responses else pb.TrainEvent()
        if not last.HasField("model"):
            return "TrainStream ended OK without a model event"
        return _judge_model(last.model)
    if label == "GetWeights":
        weights = pb.GetWeightsResponse.FromString(responses[0])
        if not all(math.isfinite(v) for t in weights.tensors for v in t.values):
            return "GetWeights returned non-finite parameters with OK"
    if label == "Health/Check":
        status = health_pb2.HealthCheckResponse.FromString(responses[0]).status
        if status != SERVING:
            return f"health status {status} during the run"
    return ""


def _judge_predict(response: pb.PredictResponse) -> str:
    probabilities, labels = list(response.probabilities), list(response.labels)
    if not probabilities or len(probabilities) != len(labels):
        return f"{len(probabilities)} probabilities and {len(labels)} labels with OK"
    for i, (p, label) in enumerate(zip(probabilities, labels, strict=True)):
        if not 0.0 <= p <= 1.0:  # NaN fails this too
            return f"probability {p} at row {i} with OK"
        if label != (p > 0.5):
            return f"label {label} for probability {p} at row {i}"
    return ""


def _judge_model(info: pb.ModelInfo) -> str:
    summary = info.summary
    # An infinite loss is honest (BCE of a saturated wrong answer); NaN means NaN parameters.
    if math.isnan(summary.final_loss) or not math.isfinite(summary.margin_reached):
        return (
            f"a model registered with OK whose loss is {summary.final_loss} and margin "
            f"{summary.margin_reached} (NaN parameters?)"
        )
    if not 0.0 <= summary.accuracy <= 1.0:
        return f"accuracy {summary.accuracy} with OK"
    return ""


async def _run(target: str, calls: Iterator[Call], concurrency: int) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with grpc.aio.insecure_channel(target) as channel:

        async def worker() -> None:
            # One shared iterator: calls are made in seed order, one at a time, as sent.
            for call in calls:
                outcomes.append(await send(channel, call))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def run(target: str, calls: Iterator[Call], concurrency: int = 8) -> list[Outcome]:
    """Send every call, `concurrency` at a time, on one channel; the outcomes as they came."""
    return asyncio.run(_run(target, calls, concurrency))


def findings(outcomes: list[Outcome]) -> list[str]:
    """Every finding, with its reproducer."""
    return [f"{o.label}: {o.finding}\n    {o.reproducer}" for o in outcomes if o.finding]


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


XOR_WAIT_SECONDS = 120.0  # the run's timed-out trainings may hold this client's share that long


def train_xor(stub: pb_grpc.GateServiceStub, metadata: Metadata = ()) -> str:
    """A fresh XOR model's id, once this client's share of trainings is free again."""
    # Trainings whose calls timed out count against --max-trainings-per-client until a
    # worker dequeues them (a replaced worker warms up first): wait for the share, bounded.
    give_up = time.monotonic() + XOR_WAIT_SECONDS
    while True:
        try:
            request = pb.TrainRequest(gate=pb.GateTask(name="XOR"), seed=7)
            return str(stub.Train(request, timeout=XOR_WAIT_SECONDS, metadata=metadata).model_id)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > give_up:
                raise
            time.sleep(0.2)


def server_codes(registry: CollectorRegistry) -> Counter[tuple[str, str]]:
    """Calls the server itself counted, by (method, code) (grpc_server_handled_total)."""
    counts: Counter[tuple[str, str]] = Counter()
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "grpc_server_handled_total" and sample.value:
                key = (sample.labels["grpc_method"], sample.labels["grpc_code"])
                counts[key] += int(sample.value)
    return counts
