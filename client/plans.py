"""Every client call written once, as a plan of wire steps that Client and AsyncClient run.

A plan is a generator: it yields Send (one attempt of a unary RPC) and Wait (a pause before a
retry), receives each response or has the ClientError thrown in, and returns the result. The
sync client runs it with blocking calls and time.sleep, the async one with await.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Unpack

from . import chunks, rpcs
from .base import ClientBase
from .channel import Attempts, check_timeout
from .errors import ClientError
from .export.model_files import Source
from .family import Family, FamilyOptions, FamilyProgress, build_family_request
from .messages import (
    ModelRef,
    TrainOptions,
    build_train_request,
    delete_request,
    get_model_request,
    health_request,
    import_request,
    list_request,
    predict_request,
    weights_request,
)
from .results import ModelInfo, Prediction, Progress, Weights
from .rpcs import AnyRpc, Metadata, Rpc

T = TypeVar("T")
AnyClient = ClientBase[Any]  # a Client or an AsyncClient: plans only read its settings


@dataclass(frozen=True)
class Send:
    """Make one attempt of a unary RPC."""

    rpc: AnyRpc
    request: Any
    timeout: float | None  # seconds left of the call's deadline
    metadata: Metadata


@dataclass(frozen=True)
class Wait:
    """Pause before the next attempt."""

    seconds: float


Plan = Generator[Send | Wait, Any, T]


@dataclass(frozen=True)
class Stream(Generic[T]):
    """A server-streaming call to open; each event is read with rpc.parse."""

    rpc: Rpc[Any, T]
    request: Any
    timeout: float | None
    metadata: Metadata


def unary(client: AnyClient, rpc: Rpc[Any, T], request: Any, timeout: float | None) -> Plan[T]:
    """One RPC: retried with backoff on UNAVAILABLE if idempotent, within one deadline."""
    attempts = Attempts(
        client.timeout if timeout is None else timeout,
        client.retries if rpc.idempotent else 0,
    )
    metadata = rpc.metadata(request, client.metadata)
    while True:
        try:
            response = yield Send(rpc, request, attempts.timeout(), metadata)
        except ClientError as error:
            delay = attempts.retry_after(error)
            if delay is None:
                raise
        else:
            return rpc.parse(response)
        yield Wait(delay)


def train(
    client: AnyClient, *, timeout: float | None = None, **options: Unpack[TrainOptions]
) -> Plan[ModelInfo]:
    """Client.train: one Train call, never retried."""
    return unary(client, rpcs.TRAIN, build_train_request(**options), timeout)


def train_stream(
    client: AnyClient, *, timeout: float | None = None, **options: Unpack[TrainOptions]
) -> Stream[Progress | ModelInfo]:
    """Client.train_stream: the TrainStream call to open (the request checked now)."""
    rpc = rpcs.TRAIN_STREAM
    request = build_train_request(**options)  # raise ValueError now, not on the first event
    deadline = client.timeout if timeout is None else check_timeout(timeout)
    return Stream(rpc, request, deadline, rpc.metadata(request, client.metadata))


def train_family(
    client: AnyClient,
    inputs: int,
    name: str,
    *,
    timeout: float | None = None,
    **options: Unpack[FamilyOptions],
) -> Stream[FamilyProgress | Family]:
    """Client.train_family: the TrainFamily call to open (the request checked now)."""
    rpc = rpcs.TRAIN_FAMILY
    request = build_family_request(inputs, name, **options)
    deadline = client.timeout if timeout is None else check_timeout(timeout)
    return Stream(rpc, request, deadline, rpc.metadata(request, client.metadata))


def get_family(client: AnyClient, family: str, *, timeout: float | None = None) -> Plan[Family]:
    """Client.get_family: GetFamily, retried on UNAVAILABLE."""
    return unary(client, rpcs.GET_FAMILY, get_model_request(family), timeout)


def predict(
    client: AnyClient, model: ModelRef, rows: Any, *, timeout: float | None = None
) -> Plan[Prediction]:
    """Client.predict: Predict, retried on UNAVAILABLE."""
    return unary(client, rpcs.PREDICT, predict_request(model, rows), timeout)


def get_weights(
    client: AnyClient, model: ModelRef, *, safetensors: bool = False, timeout: float | None = None
) -> Plan[Weights]:
    """Client.get_weights: GetWeights, retried on UNAVAILABLE; past the message limit,
    GetWeightsChunked."""
    request = weights_request(model, safetensors=safetensors)
    try:
        return (yield from unary(client, rpcs.GET_WEIGHTS, request, timeout))
    except ClientError as error:
        if error.code != "RESOURCE_EXHAUSTED":  # else: more than one message holds
            raise
    return (yield from unary(client, rpcs.GET_WEIGHTS_CHUNKED, request, timeout))


def list_models(
    client: AnyClient, *, name_prefix: str = "", page_size: int = 0, timeout: float | None = None
) -> Plan[list[ModelInfo]]:
    """Client.list_models: ListModels page after page, each retried on UNAVAILABLE."""
    request = list_request(name_prefix=name_prefix, page_size=page_size)
    return _every_page(client, request, timeout)


def _every_page(client: AnyClient, request: Any, timeout: float | None) -> Plan[list[ModelInfo]]:
    models: list[ModelInfo] = []
    while True:
        page, next_token = yield from unary(client, rpcs.LIST_MODELS, request, timeout)
        models.extend(page)
        if not next_token:
            return models
        request.page_token = next_token


def get_model(
    client: AnyClient, model: ModelRef, *, timeout: float | None = None
) -> Plan[ModelInfo]:
    """Client.get_model: GetModel, retried on UNAVAILABLE."""
    return unary(client, rpcs.GET_MODEL, get_model_request(model), timeout)


def delete_model(client: AnyClient, model: ModelRef, *, timeout: float | None = None) -> Plan[str]:
    """Client.delete_model: DeleteModel, never retried."""
    return unary(client, rpcs.DELETE_MODEL, delete_request(model), timeout)


def import_model(
    client: AnyClient, source: Source, name: str | None = None, *, timeout: float | None = None
) -> Plan[ModelInfo]:
    """Client.import_model: ImportModel with the file's payload, never retried; past the
    message limit, ImportModelChunked."""
    request = import_request(source, name=name)
    if request.ByteSize() <= chunks.UNARY_MAX_BYTES:
        try:
            return (yield from unary(client, rpcs.IMPORT_MODEL, request, timeout))
        except ClientError as error:
            # Past the server's message limit nothing was registered: send it in chunks.
            if error.code != "RESOURCE_EXHAUSTED":
                raise
    chunked = chunks.split(request)
    return (yield from unary(client, rpcs.IMPORT_MODEL_CHUNKED, chunked, timeout))


def health(client: AnyClient, service: str = "", *, timeout: float | None = None) -> Plan[str]:
    """Client.health: Check, retried on UNAVAILABLE; NOT_FOUND is SERVICE_UNKNOWN."""
    return _health(client, health_request(service), timeout)


def _health(client: AnyClient, request: Any, timeout: float | None) -> Plan[str]:
    try:
        return (yield from unary(client, rpcs.HEALTH, request, timeout))
    except ClientError as err:
        if err.code == "NOT_FOUND":  # Check's way of saying the service is not registered
            return "SERVICE_UNKNOWN"
        raise
