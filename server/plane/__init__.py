"""The data plane: the use cases every transport calls, on domain objects, knowing no wire.

A transport decodes a request, calls one use case here, and encodes what it returns:
predict (predict.py), read, list, delete and import (catalog.py). Below the plane are
models/ (what is served, the record envelope) and training/ (recipes, the worker pool).
"""

from __future__ import annotations

from gatenet.server.config import Settings
from gatenet.server.metrics import Metrics
from gatenet.server.models.registry import Registry
from gatenet.server.plane.catalog import Catalog
from gatenet.server.plane.predict import Predictor


class DataPlane:
    """The use cases, built once over the server's registry, pool and metrics."""

    def __init__(self, settings: Settings, registry: Registry, metrics: Metrics) -> None:
        self.predictor = Predictor(
            registry, settings.max_predict_rows, settings.max_predict_work, metrics
        )
        self.catalog = Catalog(registry)
