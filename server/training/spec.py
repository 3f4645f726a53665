"""What a training run is: the dataset, the request-side spec, the resolved recipe, the limits.

Plain dataclasses shared by the RPC layer (which fills a TrainSpec from a request)
and the training core (which resolves it into a Recipe, validates and trains).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gatenet.vocabulary.layers import ACTIVATIONS as ACTIVATIONS  # re-exported

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
    max_row_order: int = 100_000  # entries of an explicit row order
    max_curve_points: int = 100_000  # loss-curve points kept


@dataclass(frozen=True)
class Dataset:
    """The task and its training rows: inputs [rows, features] and 0/1 targets [rows], float32.

    With kind and label it records the task itself: a gate is its name and arity, a truth
    table its targets in row order, examples their rows.
    """

    kind: str  # "gate" | "truth_table" | "examples" (a bounded metric label)
    label: str  # the gate's name in lower case ("xor"), "table3" or "examples"
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
    """What a Train request asked for. None means "server default"; resolve() gives a Recipe."""

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
    row_order: tuple[int, ...] | None = None  # rows visited in order (online, mini_batch)
    curve_points: int | None = None  # loss-curve points kept
    learning_rate_scale: dict[str, float] | None = None  # tensor name -> factor (0 = frozen)


@dataclass(frozen=True)
class Recipe:
    """A resolved, validated training run: everything needed to repeat it bit for bit."""

    dataset: Dataset  # the task and its rows
    hidden_sizes: tuple[int, ...]  # hidden widths, input side first; () = no hidden layer
    activation: str  # hidden nonlinearity, one of ACTIVATIONS (the output is a sigmoid)
    method: str  # one of METHODS
    loss: str  # one of LOSSES; (p - y)^2 for mse, as torch
    reduction: str  # one of REDUCTIONS, over the rows of a step
    optimizer: str  # one of OPTIMIZERS
    learning_rate: float  # step size
    momentum: float  # sgd momentum; 0 for adam and the perceptron
    schedule: str  # one of SCHEDULES
    batch_size: int  # rows per step: all rows (full batch), 1 (online) or the mini-batch
    steps: int  # step budget
    init: str  # one of INITS; unused when initial_weights is given
    initial_weights: dict[str, np.ndarray] | None  # explicit start of every restart, or None
    seed: int  # restart k draws from seed + k
    early_stop: bool  # stop at the first check where a restart fits
    margin: float  # fit margin on the probability, in [0, 0.5)
    restarts: int  # restarts trained at once
    check_every: int  # steps between fit checks
    row_order: tuple[int, ...] | None  # rows visited in order, cycled; None = random draws
    curve_points: int  # loss-curve points kept, sampled at fit checks
    learning_rate_scale: dict[str, float] | None = None  # tensor name -> factor; None = all 1


@dataclass(frozen=True)
class Progress:
    """A progress sample, emitted at fit checks."""

    step: int
    best_loss: float
    best_accuracy: float
    restarts_fit: int
    restarts: int


@dataclass(frozen=True)
class Summary:
    """How a finished run went (the fields of gatenet.v1.TrainSummary, by the same names)."""

    fit: bool  # every row right with the margin
    accuracy: float  # fraction of rows right at threshold 0.5
    final_loss: float  # the kept restart's loss on all rows
    steps: int  # steps run
    restarts: int  # restarts trained at once
    restart_index: int  # the kept restart
    restarts_fit: int  # restarts that fit at the last check
    seed_used: int  # the kept restart's seed (seed + restart_index)
    margin_reached: float  # min over rows of the signed distance of p from 0.5
    train_seconds: float  # wall time of the training loop
    stopped_by: str  # "early_stop" (a restart fit), "steps" (budget spent) or "time" (the cap)


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced: the kept restart's weights and how training went."""

    weights: dict[str, np.ndarray]  # ordered layers.0.weight, layers.0.bias, ...; float32
    summary: Summary
    loss_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) samples
