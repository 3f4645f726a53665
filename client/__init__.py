"""The gatenet Python client: `from gatenet.client import Client`."""

from __future__ import annotations

from .aio import AsyncClient
from .client import Client
from .errors import ClientError
from .messages import build_train_request
from .results import ModelInfo, Prediction, Progress, Weights

__all__ = [
    "AsyncClient",
    "Client",
    "ClientError",
    "ModelInfo",
    "Prediction",
    "Progress",
    "Weights",
    "build_train_request",
]
