"""FuzzRequests: seeded calls over every method on the port, the same calls for the same seed."""

from __future__ import annotations

import dataclasses
import math
import random
import struct
from collections.abc import Callable, Iterator

from google.protobuf.descriptor import Descriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary import gates
from gatenet.vocabulary.layers import bias_name, weight_name
from gatenet.vocabulary.wire import length_delimited
from gatenet_testing.fuzz import auth as fuzz_auth
from gatenet_testing.fuzz import inference as fuzz_inference
from gatenet_testing.fuzz.calls import (
    GATE,
    HEALTH,
    REFLECTION,
    UNKNOWN_LABEL,
    Call,
    Targets,
)
from gatenet_testing.fuzz.files import hostile_json, hostile_safetensors
from gatenet_testing.fuzz.wire import mutate, scalar

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

    def __init__(self, seed: int | random.Random, targets: Targets, auth: bool = False) -> None:
        # A Random of the caller's: Hypothesis's, whose draws it shrinks (tests/fuzz/).
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
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
            tensors.append(pb.Tensor(name=weight_name(i), shape=[fan_in, fan_out]))
            tensors.append(pb.Tensor(name=bias_name(i), shape=[fan_out]))
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
        """A KServe V2 call (fuzz/inference.py): ModelInfer most often."""
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
