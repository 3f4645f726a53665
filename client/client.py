"""The synchronous gatenet client: each call of the shared plans, made as a blocking call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, Unpack

import grpc

from . import plans
from .base import ClientBase
from .errors import ClientError, from_rpc_error
from .export.model_files import Source
from .family import Family, FamilyOptions, FamilyProgress
from .messages import ModelRef, TrainOptions
from .plans import Plan, Send, Stream, Wait
from .results import ModelInfo, Prediction, Progress, Weights

T = TypeVar("T")


class Client(ClientBase[grpc.Channel]):
    """A connection to a gatenet server; use as `with Client(target) as c:`."""

    _aio = False

    def train(self, *, timeout: float | None = None, **options: Unpack[TrainOptions]) -> ModelInfo:
        """Train a model to completion and return its info (never retried)."""
        return self._run(plans.train(self, timeout=timeout, **options))

    def train_stream(
        self, *, timeout: float | None = None, **options: Unpack[TrainOptions]
    ) -> Iterator[Progress | ModelInfo]:
        """Train, yielding Progress events and finally the ModelInfo; leaving early cancels it."""
        return self._open(plans.train_stream(self, timeout=timeout, **options))

    def train_family(
        self,
        inputs: int,
        name: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[FamilyProgress], None] | None = None,
        **options: Unpack[FamilyOptions],
    ) -> Family:
        """Train a family of functions (all of `inputs` inputs, or tables=[...]) and return
        its capacity table; on_progress sees each progress event (never retried)."""
        for event in self.train_family_stream(inputs, name, timeout=timeout, **options):
            if isinstance(event, Family):
                return event
            if on_progress is not None:
                on_progress(event)
        raise ClientError("UNKNOWN", "the stream ended without a family", target=self.target)

    def train_family_stream(
        self,
        inputs: int,
        name: str,
        *,
        timeout: float | None = None,
        **options: Unpack[FamilyOptions],
    ) -> Iterator[FamilyProgress | Family]:
        """TrainFamily's events: FamilyProgress, finally the Family; leaving early cancels it."""
        return self._open(plans.train_family(self, inputs, name, timeout=timeout, **options))

    def get_family(self, family: str, *, timeout: float | None = None) -> Family:
        """A stored family's capacity table with every member's row."""
        return self._run(plans.get_family(self, family, timeout=timeout))

    def predict(self, model: ModelRef, rows: Any, *, timeout: float | None = None) -> Prediction:
        """Predict rows (2-D array-like) with a model given by id, name or ModelInfo."""
        return self._run(plans.predict(self, model, rows, timeout=timeout))

    def get_weights(
        self, model: ModelRef, *, safetensors: bool = False, timeout: float | None = None
    ) -> Weights:
        """A model's parameter tensors as numpy arrays (and a safetensors blob if asked)."""
        return self._run(plans.get_weights(self, model, safetensors=safetensors, timeout=timeout))

    def list_models(
        self, *, name_prefix: str = "", page_size: int = 0, timeout: float | None = None
    ) -> list[ModelInfo]:
        """Every registered model (oldest first), following pages to the end."""
        return self._run(
            plans.list_models(self, name_prefix=name_prefix, page_size=page_size, timeout=timeout)
        )

    def get_model(self, model: ModelRef, *, timeout: float | None = None) -> ModelInfo:
        """One model's info by id or name."""
        return self._run(plans.get_model(self, model, timeout=timeout))

    def delete_model(self, model: ModelRef, *, timeout: float | None = None) -> str:
        """Remove a model (never retried); returns the id removed."""
        return self._run(plans.delete_model(self, model, timeout=timeout))

    def import_model(
        self, source: Source, name: str | None = None, *, timeout: float | None = None
    ) -> ModelInfo:
        """Register a model from a safetensors or `weights --json` file (path or contents)."""
        return self._run(plans.import_model(self, source, name, timeout=timeout))

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status name: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"..."""
        return self._run(plans.health(self, service, timeout=timeout))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel if this client opened it (a later call opens a new one)."""
        channel = self._release()
        if channel is not None:
            channel.close()

    def _run(self, plan: Plan[T]) -> T:
        """Run a plan: each Send as a blocking call, each Wait as a sleep."""
        reply: Any = None
        error: ClientError | None = None
        while True:
            try:
                step = plan.send(reply) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Wait):
                time.sleep(step.seconds)
                continue
            try:
                reply = self._send(step)
            except ClientError as err:
                error = err

    def _send(self, step: Send) -> Any:
        call = self._stub_method(step.rpc.service, step.rpc.method)
        streams = step.rpc.streams
        request = iter(step.request) if streams == "request" else step.request
        try:
            response = call(request, timeout=step.timeout, metadata=step.metadata)
            return list(response) if streams == "response" else response
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target, self._security) from err

    def _open(self, stream: Stream[T]) -> Iterator[T]:
        """Start a server-streaming call now; iterate its parsed events."""
        call = self._stub_method(stream.rpc.service, stream.rpc.method)(
            stream.request, timeout=stream.timeout, metadata=stream.metadata
        )
        return self._events(call, stream.rpc.parse, stream.rpc.last)

    def _events(
        self, call: Any, parse: Callable[[Any], T], last: Callable[[T], bool] | None
    ) -> Iterator[T]:
        try:
            for event in call:
                result = parse(event)
                if last is not None and last(result):
                    for _ in call:  # to the status: the call ends OK before the caller stops
                        pass
                yield result
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target, self._security) from err
        finally:
            call.cancel()  # no-op once finished; stops training if the caller stopped early
