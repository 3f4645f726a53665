"""resolve(): a TrainSpec with every default filled and every field checked -> a Recipe."""

from __future__ import annotations

import math
import secrets
from typing import Any

from gatenet.server.errors import InvalidArgument
from gatenet.server.training import checks
from gatenet.server.training.shapes import layer_shapes, parameter_count
from gatenet.server.training.spec import (
    ACTIVATIONS,
    INITS,
    LOSSES,
    METHODS,
    OPTIMIZERS,
    REDUCTIONS,
    SCHEDULES,
    Limits,
    Recipe,
    TrainSpec,
)
from gatenet.vocabulary.layers import DEFAULT_ACTIVATION

# Gradient-method defaults, tuned so every gate and every 2- and 3-input function fits on every
# seed within a few milliseconds (bench/train.py measures it): Adam with a large step on a small
# tanh layer fits XOR in a few dozen full-batch steps; 12 restarts make a stuck start harmless.
DEFAULT_HIDDEN = 4  # units of the one hidden layer, or 2 per input past two inputs (parity of
# n inputs needs n units; 2n makes gradient descent find it: 8-input XOR in ~600 steps) ...
DEFAULT_HIDDEN_MAX = 24  # ... up to 24 (12 table inputs), so 64-feature examples stay cheap
DEFAULT_METHOD = "manual"  # no autograd graph: ~6x cheaper per step than autograd (bench)
DEFAULT_LOSS = "bce"
DEFAULT_REDUCTION = "mean"
DEFAULT_OPTIMIZER = "adam"
DEFAULT_ADAM_LR = 0.1  # Adam's step is ~lr per parameter; 0.1 keeps it fast and stable
DEFAULT_SGD_LR = 1.0  # the notebooks' full-batch SGD rates are 0.5..1
DEFAULT_SCHEDULE = "full_batch"  # truth tables are tiny: the exact gradient is cheapest
DEFAULT_MINI_BATCH = 32  # rows per mini-batch step, at most the dataset's rows
DEFAULT_STEPS = 5000  # budget; early stop ends 2- and 3-input runs within 100 steps
DEFAULT_INIT = "xavier"
DEFAULT_MARGIN = 0.4  # p >= 0.9 / <= 0.1: confident models for ~1.4x the steps of 0.1
DEFAULT_RESTARTS = 12
DEFAULT_CHECK_EVERY = 10  # a fit check costs about half a step's ops; every 10 steps is ~5%
DEFAULT_CURVE_POINTS = 100

# Perceptron defaults: seed 001's full-batch rule from zeros with lr 1 (sums over rows).
PERCEPTRON: dict[str, Any] = dict(
    hidden_sizes=(),
    learning_rate=1.0,
    schedule="full_batch",
    init="zeros",
    reduction="sum",
    optimizer="sgd",
    momentum=0.0,
    margin=0.0,  # its output is a step: any row on the right side of 0 is right
    restarts=1,
    check_every=1,
    steps=1000,
)

SEED_LIMIT = 2**64  # torch generators take 64-bit seeds; restart k uses seed + k


def _pick(field: str, value: str | None, allowed: tuple[str, ...], default: str) -> str:
    """A named choice, checked against its allowed values."""
    if value is None:
        return default
    if value not in allowed:
        raise InvalidArgument(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def resolve(spec: TrainSpec, limits: Limits) -> Recipe:
    """The Recipe a spec asks for, every None filled in; InvalidArgument names any bad field."""
    data = spec.dataset
    method = _pick("method", spec.method, METHODS, DEFAULT_METHOD)
    perceptron = method == "perceptron"
    pdef = PERCEPTRON if perceptron else {}
    activation = _pick("network.activation", spec.activation, ACTIVATIONS, DEFAULT_ACTIVATION)
    loss = _pick("loss", spec.loss, LOSSES, DEFAULT_LOSS)
    reduction = _pick("reduction", spec.reduction, REDUCTIONS, pdef.get("reduction", "mean"))
    optimizer = _pick("optimizer", spec.optimizer, OPTIMIZERS, pdef.get("optimizer", "adam"))
    schedule = _pick("schedule", spec.schedule, SCHEDULES, DEFAULT_SCHEDULE)
    init = _pick("init", spec.init, INITS, pdef.get("init", DEFAULT_INIT))

    if spec.hidden_sizes is None:
        hidden: tuple[int, ...] = (
            ()
            if perceptron
            else (max(DEFAULT_HIDDEN, min(2 * data.num_inputs, DEFAULT_HIDDEN_MAX)),)
        )
    else:
        hidden = checks.hidden_sizes(spec.hidden_sizes, limits)
    if perceptron and hidden:
        raise InvalidArgument(
            "network.hidden_sizes", f"{list(hidden)} given; the perceptron method takes none"
        )
    if perceptron and optimizer != "sgd":
        raise InvalidArgument(
            "optimizer", f"{optimizer!r} is not used by the perceptron rule; leave it unset"
        )
    shapes = layer_shapes(data.num_inputs, hidden)
    count = parameter_count(shapes)
    if count > limits.max_parameters:
        raise InvalidArgument(
            "network.hidden_sizes",
            f"{list(hidden)} gives {count} parameters, over the limit {limits.max_parameters}",
        )

    default_lr = 1.0 if perceptron else DEFAULT_ADAM_LR if optimizer == "adam" else DEFAULT_SGD_LR
    lr = checks.learning_rate(spec.learning_rate, default_lr, limits)
    momentum = checks.momentum(spec.momentum, optimizer)
    if perceptron and momentum:
        raise InvalidArgument("momentum", f"{momentum} given; the perceptron rule has none")
    batch_size = checks.batch_size(
        spec.batch_size, schedule, data.rows, DEFAULT_MINI_BATCH, limits.max_batch_size
    )
    steps = checks.count("steps", spec.steps, pdef.get("steps", DEFAULT_STEPS), limits.max_steps)
    check_every = checks.count(
        "check_every",
        spec.check_every,
        pdef.get("check_every", DEFAULT_CHECK_EVERY),
        limits.max_steps,
    )
    initial = checks.initial_weights(spec.initial_weights, shapes)
    # With explicit weights every restart starts alike, so one is the natural default.
    default_restarts = 1 if initial is not None else pdef.get("restarts", DEFAULT_RESTARTS)
    restarts = checks.count("restarts", spec.restarts, default_restarts, limits.max_restarts)
    margin = spec.margin if spec.margin is not None else pdef.get("margin", DEFAULT_MARGIN)
    if not (math.isfinite(margin) and 0.0 <= margin < 0.5):
        raise InvalidArgument("margin", f"{margin} is outside [0, 0.5)")

    units = sum(hidden) + 1
    elements = restarts * (count + max(data.rows, batch_size) * units)
    if elements > limits.max_batch_elements:
        raise InvalidArgument(
            "restarts",
            f"{restarts} restarts x ({count} parameters + {data.rows} rows x {units} units)"
            f" = {elements} exceeds the limit {limits.max_batch_elements}",
        )
    seed = spec.seed if spec.seed is not None else secrets.randbelow(2**31)
    if not 0 <= seed <= SEED_LIMIT - restarts:
        raise InvalidArgument(
            "seed", f"{seed} is outside 0..{SEED_LIMIT - restarts} (seed + restarts - 1 < 2^64)"
        )
    row_order = checks.row_order(spec.row_order, schedule, data.rows, limits.max_row_order)
    curve_points = checks.count(
        "curve_points", spec.curve_points, DEFAULT_CURVE_POINTS, limits.max_curve_points
    )
    if curve_points < 2:
        raise InvalidArgument("curve_points", f"{curve_points} is below the minimum 2")
    scales = checks.learning_rate_scale(spec.learning_rate_scale, shapes, lr, limits)
    return Recipe(
        learning_rate_scale=scales,
        row_order=row_order,
        curve_points=curve_points,
        dataset=data,
        hidden_sizes=hidden,
        activation=activation,
        method=method,
        loss=loss,
        reduction=reduction,
        optimizer=optimizer,
        learning_rate=lr,
        momentum=momentum,
        schedule=schedule,
        batch_size=batch_size,
        steps=steps,
        init=init,
        initial_weights=initial,
        seed=int(seed),
        early_stop=True if spec.early_stop is None else bool(spec.early_stop),
        margin=float(margin),
        restarts=restarts,
        check_every=check_every,
    )
