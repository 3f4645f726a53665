"""The models this process serves: a byte-capped LRU cache of ready models over the store.

The store holds every model's record (the source of truth); the cache holds what
Predict needs (the compiled weights) for the models in use. A hit is two dict
lookups on the event loop, with no lock and no await; a miss reads through. Train
writes through: the store commits first, then the model is cached, so an
acknowledged model is always durable.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from gatenet.server import offload
from gatenet.server.errors import (
    AlreadyExists,
    DataLoss,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    clip,
)
from gatenet.server.models import document, family_record
from gatenet.server.models.compiled import CompiledModel
from gatenet.server.models.record_check import check_record
from gatenet.server.storage import (
    CorruptRecord,
    InvalidPageToken,
    ModelMeta,
    ModelRecord,
    NameTaken,
    Store,
    StoreUnavailable,
)
from gatenet.v1 import gatenet_pb2 as pb

log = logging.getLogger("gatenet.server")

# Bytes an entry costs beyond its arrays: bench/store.py measured ~1.2 KB of RSS per 2-4-1 model.
ENTRY_OVERHEAD = 1100


@dataclass(frozen=True, slots=True)
class Served:
    """A model held ready for Predict."""

    model_id: str
    name: str
    compiled: CompiledModel
    nbytes: int  # what it counts against the cache's budget


def compile_record(record: ModelRecord) -> CompiledModel:
    """The ready-to-serve form of a stored record (its document names the activation)."""
    return CompiledModel(dict(record.tensors), document.activation(record.meta))


@contextmanager
def _store_errors() -> Iterator[None]:
    """A read's store errors as the codes a client sees: DATA_LOSS, UNAVAILABLE."""
    try:
        yield
    except CorruptRecord as exc:
        raise DataLoss(str(exc)) from None
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from None


class CacheEvents:
    """Hooks the metrics layer sets; no-ops by default."""

    hit: Callable[[], None] = staticmethod(lambda: None)
    miss: Callable[[], None] = staticmethod(lambda: None)
    evicted: Callable[[int], None] = staticmethod(lambda n: None)
    held: Callable[[int], None] = staticmethod(lambda nbytes: None)


class Registry:
    """Models by id and name: cached ones answered at once, others read from the store."""

    def __init__(
        self, store: Store, cache_bytes: int, max_models: int, events: CacheEvents | None = None
    ) -> None:
        self.store = store
        store.validate_with(check_record)  # every record read is checked, in one place
        self.cache_bytes = cache_bytes
        self.max_models = max_models
        self.events = events or CacheEvents()
        self.stored = 0  # models in the store, as of open() and this process's changes
        self._cache: OrderedDict[str, Served] = OrderedDict()
        self._ids_by_name: dict[str, str] = {}
        self._member_meta: dict[str, ModelMeta] = {}  # cached family members' metadata
        self._held = 0

    async def open(self, warm: int = 0) -> None:
        """Read the store's size, and cache its `warm` most recent models."""
        self.stored = await self.store.count()
        for record in reversed(await self.store.recent(warm) if warm else []):
            if not family_record.is_family(record.meta):  # members load when asked for
                self._cache_model(record.meta, compile_record(record))

    # -- reads --------------------------------------------------------------------

    def cached(self, ref: str) -> Served | None:
        """The cached model with this id, else this name; None on a miss."""
        served = self._cache.get(ref)
        if served is None:
            model_id = self._ids_by_name.get(ref)
            if model_id is None:
                return None
            served = self._cache[model_id]
        self._cache.move_to_end(served.model_id)
        self.events.hit()
        return served

    async def get(self, ref: str) -> Served:
        """The model with this id, else this name, from the cache or read through the store."""
        return self.cached(ref) or await self._load(ref)

    async def _load(self, ref: str) -> Served:
        served, meta = await self._read(ref)
        if served is None:
            raise InvalidArgument(
                "model", f"{clip(ref)!r} is a family; address a member as {meta.name}/TABLE"
            )
        return served

    async def _read(self, ref: str) -> tuple[Served | None, ModelMeta]:
        """Read a model through the store, cache it; its stored metadata too. A family is
        not cached (None); a family's member FAMILY/TABLE is."""
        self.events.miss()
        with _store_errors():
            model_id = ref if len(ref) == 32 else None
            record = await self.store.get(ref) if model_id else None
            if record is None:
                model_id = await self.store.id_for_name(ref)
                record = await self.store.get(model_id) if model_id else None
            if record is None and "/" in ref:
                family, _, table = ref.rpartition("/")
                record = await self.store.get(family) if len(family) == 32 else None
                if record is None:
                    model_id = await self.store.id_for_name(family)
                    record = await self.store.get(model_id) if model_id else None
                if record is not None and family_record.is_family(record.meta):
                    return self._cache_member(record, table)
                record = None
        if record is None:
            raise NotFound(f"model: no model has the id or name {clip(ref)!r}")
        if family_record.is_family(record.meta):
            return None, record.meta
        try:
            compiled = compile_record(record)
        except (KeyError, ValueError) as exc:
            raise DataLoss(
                f"model {record.meta.model_id!r}: its record does not load ({exc})"
            ) from None
        return self._cache_model(record.meta, compiled), record.meta

    async def meta(self, ref: str) -> ModelMeta:
        """A model's stored metadata; DATA_LOSS if any part of its record is damaged.

        A model not cached is read whole (and cached), so its tensors are checked too.
        """
        served = self.cached(ref)
        if served is None:
            return (await self._read(ref))[1]
        family_id = served.model_id.partition("/")[0]  # a member's id is FAMILY_ID/BITS
        with _store_errors():
            meta = await self.store.get_meta(family_id)
        if meta is not None and family_id != served.model_id:  # a member's, as made on load
            return self._member_meta[served.model_id]
        if meta is None:  # deleted meanwhile, through another replica
            raise NotFound(f"model: no model has the id or name {clip(ref)!r}")
        return meta

    async def family(self, ref: str) -> ModelRecord:
        """A family's whole record by id or name; INVALID_ARGUMENT for a model's."""
        with _store_errors():
            record = await self.store.get(ref) if len(ref) == 32 else None
            if record is None:
                model_id = await self.store.id_for_name(ref)
                record = await self.store.get(model_id) if model_id else None
        if record is None:
            raise NotFound(f"model: no family has the id or name {clip(ref)!r}")
        if not family_record.is_family(record.meta):
            raise InvalidArgument("model", f"{clip(ref)!r} is a model, not a family")
        return record

    async def page(self, token: str, size: int, name_prefix: str) -> tuple[list[ModelMeta], str]:
        """A page of stored models, oldest first, and the next page's token ("" = none)."""
        try:
            return await self.store.page(token, size, name_prefix)
        except InvalidPageToken as exc:
            raise InvalidArgument(
                "page_token", f"{clip(token)!r} is not a token this server issued"
            ) from exc
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from None

    # -- writes -------------------------------------------------------------------

    def ensure_capacity(self) -> None:
        """Fail fast, before training, when no model could be added."""
        if self.stored >= self.max_models:
            raise ResourceExhausted(
                f"models stored {self.stored} reached the limit {self.max_models} "
                "(--max-models); delete some models first"
            )

    async def ensure_name_free(self, name: str) -> None:
        """Fail fast, before training, when the name is taken."""
        if not name:
            return
        try:
            holder = await self.store.id_for_name(name)
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from None
        if holder:
            raise AlreadyExists(f"name: a model named {clip(name)!r} already exists ({holder})")

    async def register(
        self,
        info: pb.ModelInfo,
        activation: str,
        weights: dict[str, np.ndarray],
        compiled: CompiledModel,
        spec_json: dict[str, Any] | None = None,
        large: bool = False,
    ) -> Served:
        """Store a new model under info's id and name (durable when this returns), then cache
        it; its record is built here, on the codec thread when `large` (offload.py)."""
        record = await offload.run_if(large, document.record, info, activation, weights, spec_json)
        return await self.add(record, compiled)

    async def add(self, record: ModelRecord, compiled: CompiledModel) -> Served:
        """Store the model (durable when this returns), then cache it."""
        self.ensure_capacity()
        try:
            await self.store.put(record)
        except NameTaken as exc:
            raise AlreadyExists(str(exc)) from None
        except StoreUnavailable as exc:
            raise Unavailable(f"{exc}; the model was not stored") from None
        self.stored += 1
        return self._cache_model(record.meta, compiled)

    async def delete(self, ref: str) -> ModelMeta:
        """Remove a model from the store first, then from this cache.

        Its record is not read: a damaged one goes too, by id, or by its name (the
        stores index names apart from the record).
        """
        try:
            removed = await self.store.delete(ref) if len(ref) == 32 else None
            if removed is None and (named := await self.store.id_for_name(ref)):
                removed = await self.store.delete(named)
        except StoreUnavailable as exc:
            raise Unavailable(f"{exc}; the model was not deleted") from None
        if removed is None:  # never there, or deleted meanwhile through another replica
            raise NotFound(f"model: no model has the id or name {clip(ref)!r}")
        self.stored -= 1
        self.forget(removed.model_id)
        return removed

    def clear(self) -> None:
        """Drop every cached model; each reloads from the store on its next use."""
        self._cache.clear()
        self._ids_by_name.clear()
        self._member_meta.clear()
        self._held = 0
        self.events.held(0)

    def forget(self, model_id: str) -> None:
        """Drop a model from this cache (deleted here or by another replica), and a family's
        cached members."""
        served = self._cache.pop(model_id, None)
        if served is not None:
            self._uncache(served)
        members = [m for m in self._member_meta if m.startswith(model_id + "/")]
        for member in members:
            gone = self._cache.pop(member, None)
            if gone is not None:
                self._uncache(gone)
        if served is not None or members:
            self.events.held(self._held)

    # -- the cache's budget ---------------------------------------------------------

    async def add_family(self, record: ModelRecord) -> None:
        """Store a family as one record (durable when this returns); members load on use."""
        self.ensure_capacity()
        try:
            await self.store.put(record)
        except NameTaken as exc:
            raise AlreadyExists(str(exc)) from None
        except StoreUnavailable as exc:
            raise Unavailable(f"{exc}; the family was not stored") from None
        self.stored += 1

    def _cache_member(self, record: ModelRecord, table: str) -> tuple[Served, ModelMeta]:
        """Cache a family's member as a model of its own; forgetting the family drops it."""
        meta, weights = family_record.member(record.meta, record.tensors, table)
        served = self._cache_model(meta, CompiledModel(weights, document.activation(meta)))
        self._member_meta[meta.model_id] = meta
        return served, meta

    def _cache_model(self, meta: ModelMeta, compiled: CompiledModel) -> Served:
        served = Served(meta.model_id, meta.name, compiled, compiled.nbytes + ENTRY_OVERHEAD)
        old = self._cache.pop(served.model_id, None)
        if old is not None:
            self._uncache(old)
        self._cache[served.model_id] = served
        if served.name:
            self._ids_by_name[served.name] = served.model_id
        self._held += served.nbytes
        evicted = 0
        while self._held > self.cache_bytes and len(self._cache) > 1:
            _, oldest = self._cache.popitem(last=False)
            self._uncache(oldest)
            evicted += 1
        if evicted:
            self.events.evicted(evicted)
        self.events.held(self._held)
        return served

    def _uncache(self, served: Served) -> None:
        self._member_meta.pop(served.model_id, None)
        self._held -= served.nbytes
        if served.name and self._ids_by_name.get(served.name) == served.model_id:
            del self._ids_by_name[served.name]

    def __len__(self) -> int:
        return len(self._cache)
