"""The data plane: the use cases every transport calls, on domain objects, knowing no wire.

A transport decodes a request, calls one use case here, and encodes what it returns:
predict (predict.py), train (train.py: admit, run, register), family (family.py), read,
list, delete and import (catalog.py). Below the plane are models/ (what is served, the record
envelope, specs and model files) and training/ (recipes, the worker pool), then storage/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatenet.server.config import Settings
from gatenet.server.metrics import Metrics
from gatenet.server.models.registry import Registry
from gatenet.server.models.trained import Trained
from gatenet.server.plane.catalog import Catalog
from gatenet.server.plane.family import Families
from gatenet.server.plane.predict import Predictor
from gatenet.server.plane.train import Training
from gatenet.server.training.pool import TrainingPool

if TYPE_CHECKING:  # imported by the composition root only when tracing is on
    from gatenet.server.tracing import Tracing


class DataPlane:
    """The use cases, built once over the server's registry, pool and metrics."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        pool: TrainingPool[Trained],
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self.registry = registry
        self.predictor = Predictor(
            registry, settings.max_predict_rows, settings.max_predict_work, metrics
        )
        self.training = Training(registry, pool, settings.limits, metrics, tracing)
        self.catalog = Catalog(registry, settings.limits, metrics)
        self.families = Families(
            registry, pool, settings.limits, metrics, settings.max_family_seconds
        )
