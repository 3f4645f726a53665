"""The models held: an in-memory registry, lock-free for readers.

Reads (the Predict hot path) are single dict lookups, atomic under the GIL;
only writers take the lock. A Store receives every change so models can be
written through to disk or Redis; the default keeps nothing outside memory.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gatenet.server.errors import AlreadyExists, NotFound, ResourceExhausted
from gatenet.server.serving import CompiledModel


@dataclass(frozen=True, slots=True)
class Model:
    """One registered model; immutable once registered."""

    model_id: str
    name: str
    compiled: CompiledModel  # weights held ready for Predict
    info: bytes  # serialized gatenet.v1.ModelInfo: compact, parsed only when asked for


class Store(Protocol):
    """Where models are persisted besides memory."""

    def put(self, model: Model) -> None: ...

    def delete(self, model_id: str) -> None: ...

    def load(self) -> Iterable[Model]: ...


class MemoryOnly:
    """The embedded default: nothing persists beyond the process."""

    def put(self, model: Model) -> None:
        pass

    def delete(self, model_id: str) -> None:
        pass

    def load(self) -> Iterable[Model]:
        return ()


class Registry:
    """Models by id and by name, capped at max_models."""

    def __init__(self, max_models: int, store: Store | None = None) -> None:
        self.max_models = max_models
        self._store = store or MemoryOnly()
        self._by_id: dict[str, Model] = {}
        self._by_name: dict[str, str] = {}
        self._lock = threading.Lock()
        for model in self._store.load():
            self._insert(model)

    def __len__(self) -> int:
        return len(self._by_id)

    def ensure_capacity(self) -> None:
        """Fail fast, before training, when no model could be added."""
        if len(self._by_id) >= self.max_models:
            raise ResourceExhausted(self._full_message())

    def ensure_name_free(self, name: str) -> None:
        """Fail fast, before training, when the name is taken."""
        if name and name in self._by_name:
            raise AlreadyExists(
                f"name: a model named {name!r} already exists ({self._by_name[name]})"
            )

    def add(self, model: Model) -> None:
        """Register a model; the cap and the name are checked again under the lock."""
        with self._lock:
            if len(self._by_id) >= self.max_models:
                raise ResourceExhausted(self._full_message())
            self.ensure_name_free(model.name)
            self._store.put(model)
            self._insert(model)

    def get(self, ref: str) -> Model:
        """The model with this id, else this name."""
        model = self._by_id.get(ref)
        if model is None:
            model_id = self._by_name.get(ref)
            model = self._by_id.get(model_id) if model_id else None
        if model is None:
            raise NotFound(f"model: no model has the id or name {ref!r}")
        return model

    def delete(self, ref: str) -> Model:
        """Remove and return a model."""
        with self._lock:
            model = self.get(ref)
            self._store.delete(model.model_id)
            del self._by_id[model.model_id]
            if model.name:
                self._by_name.pop(model.name, None)
            return model

    def page(self, offset: int, size: int, name_prefix: str = "") -> tuple[list[Model], int]:
        """Up to `size` models from `offset`, oldest first, and the next offset (-1: none)."""
        with self._lock:
            models: Iterable[Model] = self._by_id.values()
            if name_prefix:
                models = (m for m in models if m.name.startswith(name_prefix))
            chunk = list(itertools.islice(models, offset, offset + size + 1))
        more = len(chunk) > size
        return chunk[:size], (offset + size if more else -1)

    def _insert(self, model: Model) -> None:
        self._by_id[model.model_id] = model
        if model.name:
            self._by_name[model.name] = model.model_id

    def _full_message(self) -> str:
        return (
            f"models held {len(self._by_id)} reached the limit {self.max_models} "
            "(--max-models); delete some models first"
        )
