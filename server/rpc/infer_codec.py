"""ModelInfer on the wire: a ModelInferRequest's one input tensor as the little-endian float32
rows Predict answers, checked; the answer as a ModelInferResponse with raw outputs.

A gatenet model as an Open Inference Protocol model: one input tensor `inputs`
[-1, n_inputs] (FP32; FP64, INT32, INT64, UINT8 and BOOL are converted to FP32)
and two outputs, `probability` FP32 [-1, 1] and `label` BOOL [-1, 1] (the 0/1
label Predict returns, one byte per row as the model computes it). Each model
has the single version "1". Errors name the request field, the tensor and the
bound; the rows then go through Predict's use case (plane/predict.py: the work bound, and
the finiteness check on the way into the forward).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from gatenet.inference import grpc_service_pb2 as v2
from gatenet.server.errors import InvalidArgument, NotFound, clip
from gatenet.server.models.registry import Served
from gatenet.server.plane.predict import Predictor
from gatenet.vocabulary.wire import LENGTH, tag, varint

INPUT = "inputs"
PROBABILITY = "probability"
LABEL = "label"
OUTPUTS = (PROBABILITY, LABEL)
VERSION = "1"  # every model's one version
PLATFORM = "gatenet"

_F4 = np.dtype("<f4")
_F4_MAX = float(np.finfo(np.float32).max)


class _Datatype(NamedTuple):
    raw: np.dtype  # the little-endian layout of one value in raw_input_contents
    field: str  # the InferTensorContents field of typed values


DATATYPES = {
    "FP32": _Datatype(np.dtype("<f4"), "fp32_contents"),
    "FP64": _Datatype(np.dtype("<f8"), "fp64_contents"),
    "INT32": _Datatype(np.dtype("<i4"), "int_contents"),
    "INT64": _Datatype(np.dtype("<i8"), "int64_contents"),
    "UINT8": _Datatype(np.dtype("u1"), "uint_contents"),
    "BOOL": _Datatype(np.dtype("u1"), "bool_contents"),  # one byte per value, 0 or 1
}
_ACCEPTED = ", ".join(DATATYPES)
_OUTPUT_DATATYPES = {PROBABILITY: "FP32", LABEL: "BOOL"}
_CONFIG_TYPES = {PROBABILITY: v2.TYPE_FP32, LABEL: v2.TYPE_BOOL}


class InferCall(NamedTuple):
    """A ModelInferRequest checked as far as it can be without its model."""

    model: str
    version: str
    id: str
    tensor: Any  # ModelInferRequest.InferInputTensor (or anything with name, datatype, shape)
    raw: bytes | None  # the tensor's raw_input_contents entry, if it came that way
    outputs: tuple[str, ...]  # in the order they go back


def decode(request: v2.ModelInferRequest) -> InferCall:
    """The request's model, input tensor and wanted outputs; InvalidArgument names the field."""
    if not request.model_name:
        raise InvalidArgument("model_name", "is empty; give a model id or name")
    if len(request.inputs) != 1:
        raise InvalidArgument(
            "inputs", f"{len(request.inputs)} tensors given; the model takes one, {INPUT!r}"
        )
    tensor = request.inputs[0]
    check_input(tensor.name, tensor.datatype)
    raw = None
    if request.raw_input_contents:
        if len(request.raw_input_contents) != 1:
            raise InvalidArgument(
                "raw_input_contents",
                f"{len(request.raw_input_contents)} entries for 1 input tensor; send one",
            )
        if tensor.HasField("contents"):
            raise InvalidArgument(
                "inputs[0].contents",
                f"tensor {INPUT!r} also has raw_input_contents; send its values in one of them",
            )
        raw = request.raw_input_contents[0]
    return InferCall(
        request.model_name, request.model_version, request.id, tensor, raw, _outputs(request)
    )


def check_input(name: str, datatype: str) -> None:
    """InvalidArgument unless the one input tensor is named `inputs` and of a datatype taken."""
    if name != INPUT:
        raise InvalidArgument(
            "inputs[0].name",
            f"{clip(name)!r} is not an input of the model; its one input is {INPUT!r}",
        )
    if datatype not in DATATYPES:
        raise InvalidArgument(
            "inputs[0].datatype",
            f"{clip(datatype)!r} for tensor {INPUT!r} is not one of {_ACCEPTED}",
        )


def _outputs(request: v2.ModelInferRequest) -> tuple[str, ...]:
    return wanted_outputs(
        (wanted.name, "classification" in wanted.parameters) for wanted in request.outputs
    )


def wanted_outputs(outputs: Iterable[tuple[str, bool]]) -> tuple[str, ...]:
    """The outputs a request names (with whether it asks classification of each), checked, in
    its order; none named = both."""
    names: list[str] = []
    for i, (name, classification) in enumerate(outputs):
        if name not in OUTPUTS:
            raise InvalidArgument(
                f"outputs[{i}].name",
                f"{clip(name)!r} is not an output of the model; "
                f"its outputs are {PROBABILITY!r} and {LABEL!r}",
            )
        if name in names:
            raise InvalidArgument(f"outputs[{i}].name", f"{name!r} is requested twice")
        if classification:
            raise InvalidArgument(
                f"outputs[{i}].parameters",
                f"classification is not supported; read {LABEL!r} and {PROBABILITY!r} instead",
            )
        names.append(name)
    return tuple(names) or OUTPUTS


async def named_model(predictor: Predictor, ref: str, version: str) -> Served:
    """The model a V2 request names (its id or name) at its one version (gRPC and REST)."""
    if not ref:
        raise InvalidArgument("name", "is empty; give a model id or name")
    model = await predictor.model(ref)
    check_version(version, ref)
    return model


def cached_model(predictor: Predictor, ref: str, version: str) -> Served | None:
    """named_model() with no coroutine when the model is cached (the hot path), else None."""
    model = predictor.cached(ref) if ref else None
    if model is not None:
        check_version(version, ref)
    return model


def check_version(version: str, ref: str) -> None:
    """NotFound unless `version` names the model's one version ("" picks it)."""
    if version not in ("", VERSION):
        raise NotFound(
            f"model_version: {clip(version)!r} is not a version of model {clip(ref)!r}; "
            f"its one version is {VERSION!r} (or leave model_version empty)"
        )


def rows(call: InferCall, model_inputs: int, max_rows: int) -> tuple[bytes, int]:
    """The tensor's rows as little-endian float32 bytes and their number, once the shape fits
    the model (the forward checks that every value is finite)."""
    shape = list(call.tensor.shape)
    if len(shape) != 2 or shape[1] != model_inputs or shape[0] < 0:
        raise InvalidArgument(
            "inputs[0].shape",
            f"{shape} does not fit tensor {INPUT!r} of the model: [-1, {model_inputs}]",
        )
    count = shape[0]
    if count == 0:
        raise InvalidArgument("inputs[0].shape", f"{shape} has no rows; send at least one row")
    if count > max_rows:
        raise InvalidArgument(
            "inputs[0].shape", f"{count} rows of tensor {INPUT!r} exceeds the limit {max_rows}"
        )
    datatype = DATATYPES[call.tensor.datatype]
    values = count * model_inputs
    if call.raw is not None:
        data = _from_raw(call.raw, call.tensor.datatype, datatype, values, shape)
    else:
        data = _from_contents(call.tensor, datatype, values, shape)
    return data, count


def _from_raw(raw: bytes, name: str, datatype: _Datatype, values: int, shape: list[int]) -> bytes:
    size = values * datatype.raw.itemsize
    if len(raw) != size:
        raise InvalidArgument(
            "raw_input_contents[0]",
            f"{len(raw)} bytes for tensor {INPUT!r} {name} {shape}; "
            f"expected {size} ({values} values of {datatype.raw.itemsize} bytes)",
        )
    if datatype.raw == _F4:
        return raw  # Predict's own form: no copy
    return _as_f4(np.frombuffer(raw, dtype=datatype.raw), name)


def _from_contents(tensor: Any, datatype: _Datatype, values: int, shape: list[int]) -> bytes:
    given: Sequence[Any] = getattr(tensor.contents, datatype.field)
    if len(given) != values:
        raise InvalidArgument(
            f"inputs[0].contents.{datatype.field}",
            f"{len(given)} values for tensor {INPUT!r} {tensor.datatype} {shape}; expected "
            f"{values} ({tensor.datatype} values go in {datatype.field})",
        )
    if tensor.datatype == "UINT8":
        array = np.asarray(given, dtype=np.uint32)
        if values and int(array.max()) > 255:
            bad = int(np.argmax(array > 255))
            raise InvalidArgument(
                f"inputs[0].contents.{datatype.field}",
                f"value {bad} is {int(array[bad])}, beyond UINT8's range 0..255",
            )
        return array.astype(_F4).tobytes()
    return _as_f4(np.asarray(given, dtype=datatype.raw), tensor.datatype)


def _as_f4(array: np.ndarray, name: str) -> bytes:
    """Values of another datatype as float32 bytes; FP64 ones must be finite and fit float32."""
    if name == "BOOL":
        return np.not_equal(array, 0).astype(_F4).tobytes()
    if name == "FP64" and len(array):
        with np.errstate(invalid="ignore"):
            too_big = np.abs(array) > _F4_MAX
        if too_big.any() or not np.isfinite(array).all():
            bad = int(np.argmax(too_big | ~np.isfinite(array)))
            value = float(array[bad])
            why = "inputs must be finite" if not math.isfinite(value) else "beyond FP32's range"
            raise InvalidArgument(
                "inputs", f"value {bad} is {value}; {why} (FP64 inputs are converted to FP32)"
            )
    return array.astype(_F4).tobytes()


def encode(call: InferCall, probabilities: np.ndarray, labels: np.ndarray) -> bytes:
    """A serialized ModelInferResponse: the wanted outputs, [rows, 1] each, their values in
    raw_output_contents (contiguous little-endian arrays, joined through the buffer protocol).

    Serialized messages concatenate into their merge: the call's own fields, then the outputs'
    descriptions (the same for every call of this many rows), then each output's values.
    """
    parts: list[bytes | memoryview] = [
        v2.ModelInferResponse(
            model_name=call.model, model_version=VERSION, id=call.id
        ).SerializeToString(),
        _described(call.outputs, len(labels)),
    ]
    for name in call.outputs:
        # float32 probabilities and 0/1 label bytes: already what FP32 and BOOL are raw.
        values = probabilities if name == PROBABILITY else labels
        parts += (_RAW_OUTPUT, varint(values.nbytes), values.data)
    return b"".join(parts)


@functools.lru_cache(maxsize=256)
def _described(outputs: tuple[str, ...], rows: int) -> bytes:
    """The serialized `outputs` field of a response of `rows` rows."""
    response = v2.ModelInferResponse()
    for name in outputs:
        response.outputs.add(name=name, datatype=_OUTPUT_DATATYPES[name], shape=(rows, 1))
    return response.SerializeToString()


_RAW_OUTPUT = tag(
    v2.ModelInferResponse.DESCRIPTOR.fields_by_name["raw_output_contents"].number, LENGTH
)


def config(name: str, model_inputs: int, max_rows: int) -> v2.ModelConfigResponse:
    """The model as Triton's ModelConfig: batched (rows up to the limit), dims past the rows."""
    return v2.ModelConfigResponse(
        config=v2.ModelConfig(
            name=name,
            platform=PLATFORM,
            backend=PLATFORM,
            max_batch_size=max_rows,
            input=[v2.ModelInput(name=INPUT, data_type=v2.TYPE_FP32, dims=[model_inputs])],
            output=[
                v2.ModelOutput(name=output, data_type=_CONFIG_TYPES[output], dims=[1])
                for output in OUTPUTS
            ],
        )
    )


def metadata(name: str, model_inputs: int) -> v2.ModelMetadataResponse:
    """A model's tensors: `inputs` FP32 [-1, n], `probability` FP32 [-1, 1], `label` BOOL."""
    tensor = v2.ModelMetadataResponse.TensorMetadata
    return v2.ModelMetadataResponse(
        name=name,
        versions=[VERSION],
        platform=PLATFORM,
        inputs=[tensor(name=INPUT, datatype="FP32", shape=(-1, model_inputs))],
        outputs=[
            tensor(name=output, datatype=_OUTPUT_DATATYPES[output], shape=(-1, 1))
            for output in OUTPUTS
        ],
    )
