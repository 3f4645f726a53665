"""The catalog use cases: read, list, delete and import models.

Every transport reads and changes the set of models through here, never through
the registry or the store directly. Large records and files are read and written
on the codec thread (offload.py).
"""

from __future__ import annotations

import time
import uuid

from gatenet.server import offload
from gatenet.server.errors import InvalidArgument, clip
from gatenet.server.metrics import Metrics
from gatenet.server.models import document
from gatenet.server.models.document import StoredModel
from gatenet.server.models.import_summary import summarize
from gatenet.server.models.model_file import ImportedFile
from gatenet.server.models.registry import Registry, Served
from gatenet.server.training.spec import Limits
from gatenet.v1 import gatenet_pb2 as pb

_MAX_NAME = 200  # characters of a model name


def check_name(name: str) -> None:
    """InvalidArgument unless `name` can name a model ("" = none)."""
    if len(name) > _MAX_NAME:
        raise InvalidArgument("name", f"{len(name)} characters exceeds the limit {_MAX_NAME}")
    if name and (not name.isprintable() or name != name.strip()):
        raise InvalidArgument("name", "must be printable, without leading or trailing spaces")
    if "/" in name:  # reserved: FAMILY/TABLE names a family's member, and only that
        raise InvalidArgument(
            "name", f"{clip(name)!r} has a '/', which only a family member's name has"
        )
    if len(name) == 32 and all(c in "0123456789abcdef" for c in name):
        raise InvalidArgument("name", "looks like a model id; pick a name ids cannot take")


class Catalog:
    """The registered models: read, page through, delete, import."""

    def __init__(self, registry: Registry, limits: Limits, metrics: Metrics) -> None:
        self._registry = registry
        self._limits = limits
        self._metrics = metrics

    @property
    def stored(self) -> int:
        """Models in the store, as of opening it and this process's changes."""
        return self._registry.stored

    async def read(self, ref: str) -> pb.ModelInfo:
        """The model's info as stored."""
        meta = await self._registry.meta(ref)
        return await offload.run(document.model_info, meta)

    async def weights(self, ref: str) -> tuple[Served, StoredModel]:
        """The model as served (its weights) and as stored (its document)."""
        model = await self._registry.get(ref)
        return model, await self._registry.meta(model.model_id)

    async def page(self, token: str, size: int, name_prefix: str) -> tuple[list[StoredModel], str]:
        """A page of stored models, oldest first, and the next page's token ("" = none)."""
        return await self._registry.page(token, size, name_prefix)

    async def delete(self, ref: str) -> str:
        """Remove the model from the store, then from the cache; its id."""
        meta = await self._registry.delete(ref)
        self._metrics.models.set(self._registry.stored)
        return meta.model_id

    async def import_(self, request: pb.ImportModelRequest) -> pb.ModelInfo:
        """Register the model a file describes; a large file is read off the event loop."""
        check_name(request.name)
        large = request.ByteSize() > offload.LARGE_BYTES
        imported = await offload.run_if(large, ImportedFile, request, self._limits)
        self._registry.ensure_capacity()
        await self._registry.ensure_name_free(request.name)
        model_id = uuid.uuid4().hex
        info = await offload.run(  # numpy over up to 4,096 rows: off the event loop
            _imported_info, imported, model_id, request.name, self._limits
        )
        # Its document is written off the event loop too, as json_format's reflection is slow.
        await self._registry.register(
            info, imported.activation, imported.weights, imported.compiled, large=True
        )
        self._metrics.models.set(self._registry.stored)
        return info


def _imported_info(
    imported: ImportedFile, model_id: str, name: str, limits: Limits
) -> pb.ModelInfo:
    """An imported model's info, measured on its task's rows when the file names one."""
    info = imported.info(model_id, name, time.time())
    summarize(info, imported.weights, imported.activation, imported.field, limits)
    return info
