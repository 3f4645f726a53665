"""What a training run is: the dataset, the recipe and the limits that bound it.

Plain dataclasses shared by the gRPC layer (which fills them from a request)
and the training core (which resolves defaults, validates and trains).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "relu")
METHODS = ("autograd", "manual", "perceptron")
LOSSES = ("bce", "mse")
REDUCTIONS = ("mean", "sum")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("full_batch", "online", "mini_batch")
INITS = ("uniform", "normal", "scaled_normal", "xavier", "torch_default", "zeros")


@dataclass(frozen=True)
class Limits:
    """Server-side bounds on what one request may ask for (settings, not hyperparameters)."""

    max_table_inputs: int = 12  # truth tables / gates: at most 2^12 = 4096 rows
    max_rows: int = 4096  # rows of an examples task
    max_features: int = 64  # inputs per row
    max_hidden_layers: int = 8
    max_hidden_size: int = 1024  # units in one hidden layer
    max_parameters: int = 1_000_000  # parameters of one network (one restart)
    max_steps: int = 1_000_000
    max_restarts: int = 1024
    max_learning_rate: float = 1000.0
    max_batch_size: int = 4096
    # restarts x (parameters + rows x units): bounds the memory of one batched training
    max_batch_elements: int = 50_000_000


@dataclass(frozen=True)
class Dataset:
    """Training rows: inputs [rows, features] float32 and 0/1 targets [rows] float32."""

    kind: str  # "gate" | "truth_table" | "examples" (a bounded metric label)
    label: str  # e.g. "xor", "table3", "examples"
    inputs: np.ndarray
    targets: np.ndarray

    @property
    def num_inputs(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def rows(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class TrainSpec:
    """A training recipe. None means "server default"; resolve() fills every None."""

    dataset: Dataset
    hidden_sizes: tuple[int, ...] | None = None  # None = default; () = no hidden layer
    activation: str | None = None  # one of ACTIVATIONS
    method: str | None = None  # one of METHODS
    loss: str | None = None  # one of LOSSES
    reduction: str | None = None  # one of REDUCTIONS
    optimizer: str | None = None  # one of OPTIMIZERS
    learning_rate: float | None = None
    momentum: float | None = None  # sgd only
    schedule: str | None = None  # one of SCHEDULES
    batch_size: int | None = None  # mini_batch only
    steps: int | None = None  # step budget
    init: str | None = None  # one of INITS
    initial_weights: dict[str, np.ndarray] | None = None  # overrides init
    seed: int | None = None  # restart k uses seed + k
    early_stop: bool | None = None
    margin: float | None = None  # fit margin on the probability, in [0, 0.5)
    restarts: int | None = None
    check_every: int | None = None  # steps between fit checks


@dataclass(frozen=True)
class Progress:
    """A progress sample, emitted at fit checks."""

    step: int
    best_loss: float
    best_accuracy: float
    restarts_fit: int
    restarts: int


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced: the kept restart's weights and how training went."""

    weights: dict[str, np.ndarray]  # ordered layers.0.weight, layers.0.bias, ...; float32
    fit: bool
    accuracy: float
    final_loss: float
    steps: int
    restarts: int
    restart_index: int
    restarts_fit: int
    seed_used: int
    margin_reached: float
    train_seconds: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
