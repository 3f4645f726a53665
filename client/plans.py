"""Every client call written once, as a plan of wire steps that Client and AsyncClient run.

A plan is a generator: it yields Send (one attempt of a unary RPC) and Wait (a pause before a
retry), receives each response or has the ClientError thrown in, and returns the result. The
sync client runs it with blocking calls and time.sleep, the async one with await.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Unpack

from . import chunks, rpcs
from .base import ClientBase
from .channel import Attempts
from .errors import ClientError
from .messages import ModelRef, TrainOptions
from .model_files import Source
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

    rpc: Rpc[..., Any, Any, T]
    request: Any
    timeout: float | None
    metadata: Metadata


def unary(
    client: AnyClient, rpc: Rpc[..., Any, Any, T], request: Any, timeout: float | None
) -> Plan[T]:
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
    """Train a model to completion and return its info (never retried)."""
    return unary(client, rpcs.TRAIN, rpcs.TRAIN.build(**options), timeout)


def train_stream(
    client: AnyClient, *, timeout: float | None = None, **options: Unpack[TrainOptions]
) -> Stream[Progress | ModelInfo]:
    """Train, yielding Progress events and finally the ModelInfo; leaving early cancels it."""
    rpc = rpcs.TRAIN_STREAM
    request = rpc.build(**options)  # raise ValueError now, not on the first event
    deadline = client.timeout if timeout is None else timeout
    return Stream(rpc, request, deadline, rpc.metadata(request, client.metadata))


def predict(
    client: AnyClient, model: ModelRef, rows: Any, *, timeout: float | None = None
) -> Plan[Prediction]:
    """Predict rows (2-D array-like) with a model given by id, name or ModelInfo."""
    return unary(client, rpcs.PREDICT, rpcs.PREDICT.build(model, rows), timeout)


def get_weights(
    client: AnyClient, model: ModelRef, *, safetensors: bool = False, timeout: float | None = None
) -> Plan[Weights]:
    """A model's parameter tensors as numpy arrays (and a safetensors blob if asked)."""
    request = rpcs.GET_WEIGHTS.build(model, safetensors=safetensors)
    try:
        return (yield from unary(client, rpcs.GET_WEIGHTS, request, timeout))
    except ClientError as error:
        if error.code != "RESOURCE_EXHAUSTED":  # else: more than one message holds
            raise
    return (yield from unary(client, rpcs.GET_WEIGHTS_CHUNKED, request, timeout))


def list_models(
    client: AnyClient, *, name_prefix: str = "", page_size: int = 0, timeout: float | None = None
) -> Plan[list[ModelInfo]]:
    """Every registered model (oldest first), following pages to the end."""
    request = rpcs.LIST_MODELS.build(name_prefix=name_prefix, page_size=page_size)
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
    """One model's info by id or name."""
    return unary(client, rpcs.GET_MODEL, rpcs.GET_MODEL.build(model), timeout)


def delete_model(client: AnyClient, model: ModelRef, *, timeout: float | None = None) -> Plan[str]:
    """Remove a model (never retried); returns the id removed."""
    return unary(client, rpcs.DELETE_MODEL, rpcs.DELETE_MODEL.build(model), timeout)


def import_model(
    client: AnyClient, source: Source, name: str | None = None, *, timeout: float | None = None
) -> Plan[ModelInfo]:
    """Register a model from a safetensors or `weights --json` file (path or contents)."""
    request = rpcs.IMPORT_MODEL.build(source, name=name)
    if request.ByteSize() <= chunks.UNARY_MAX_BYTES:
        try:
            return (yield from unary(client, rpcs.IMPORT_MODEL, request, timeout))
        except ClientError as error:
            # Past the server's message limit nothing was registered: send it in chunks.
            if error.code != "RESOURCE_EXHAUSTED":
                raise
    chunked = rpcs.IMPORT_MODEL_CHUNKED
    return (yield from unary(client, chunked, chunked.build(request), timeout))


def health(client: AnyClient, service: str = "", *, timeout: float | None = None) -> Plan[str]:
    """The grpc.health.v1 status name: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"..."""
    return _health(client, rpcs.HEALTH.build(service), timeout)


def _health(client: AnyClient, request: Any, timeout: float | None) -> Plan[str]:
    try:
        return (yield from unary(client, rpcs.HEALTH, request, timeout))
    except ClientError as err:
        if err.code == "NOT_FOUND":  # Check's way of saying the service is not registered
            return "SERVICE_UNKNOWN"
        raise


def describe(method: Callable[..., Any], plan: Callable[..., Any], owner: str) -> None:
    """Give a client method its plan's name, docstring and signature (for help() and IDEs)."""
    method.__name__ = plan.__name__
    method.__qualname__ = f"{owner}.{plan.__name__}"
    method.__doc__ = plan.__doc__
    signature = inspect.signature(plan)
    (first, *rest) = signature.parameters.values()
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[first.replace(name="self", annotation=inspect.Parameter.empty), *rest],
        return_annotation=inspect.Signature.empty,
    )
