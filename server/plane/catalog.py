"""The catalog use cases: read, list, delete and import models.

Every transport reads and changes the set of models through here, never through
the registry or the store directly.
"""

from __future__ import annotations

from gatenet.server.models.document import StoredModel
from gatenet.server.models.registry import Registry


class Catalog:
    """The registered models: pages of them, and how many are stored."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @property
    def stored(self) -> int:
        """Models in the store, as of opening it and this process's changes."""
        return self._registry.stored

    async def page(self, token: str, size: int, name_prefix: str) -> tuple[list[StoredModel], str]:
        """A page of stored models, oldest first, and the next page's token ("" = none)."""
        return await self._registry.page(token, size, name_prefix)
