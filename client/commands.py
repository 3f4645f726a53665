"""What each `gatenet` subcommand does: call the client, print JSON or human output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

from . import cli_input, render
from .client import Client
from .errors import ClientError
from .results import ModelInfo

HEALTH_TIMEOUT = 10.0  # seconds; a health probe must answer even when no --timeout is given


# train flags whose dest is already the Client.train keyword
_SAME_NAME = (
    "hidden activation method loss reduction optimizer lr momentum schedule batch_size steps"
    " init seed early_stop margin restarts check_every"
).split()


def _finite(value: Any) -> Any:
    # NaN/Infinity are not JSON; a diverged loss prints as null instead of breaking parsers.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _output(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(_finite(data)) if args.json else text)


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """Client.train keyword arguments from the train subcommand's flags."""
    options = {
        "gate": args.gate,
        "num_inputs": args.inputs,
        "truth_table": args.table,
        "examples": cli_input.examples(args.examples) if args.examples else None,
        "initial_weights": (
            cli_input.weights_json(args.initial_weights) if args.initial_weights else None
        ),
        "name": args.name,
    }
    for key in _SAME_NAME:
        options[key] = getattr(args, key)
    return options


def cmd_train(client: Client, args: argparse.Namespace) -> int:
    """gatenet train."""
    options = train_options(args)
    if not args.stream:
        info = client.train(**options)
    else:
        info = None
        bar = None if args.json else render.ProgressBar(sys.stderr, args.steps)
        try:
            for event in client.train_stream(**options):
                if isinstance(event, ModelInfo):
                    info = event
                elif bar is not None:
                    bar.update(event)
        finally:
            if bar is not None:
                bar.close()
        if info is None:
            raise ClientError("UNKNOWN", "the stream ended without a model", target=client.target)
    _output(args, info.to_dict(), render.model_info(info))
    return 0


def cmd_predict(client: Client, args: argparse.Namespace) -> int:
    """gatenet predict."""
    if bool(args.rows) == bool(args.file):
        raise cli_input.InputError("give rows like 0,1 1,1 or --file rows.csv (not both)")
    if args.file:
        rows = cli_input.csv_rows(args.file)
    else:
        rows = [cli_input.numbers(r, "row") for r in args.rows]
        if len({len(r) for r in rows}) != 1:
            raise cli_input.InputError("rows have different numbers of values")
    result = client.predict(args.model, rows)
    _output(args, result.to_dict(), render.prediction(result, np.asarray(rows)))
    return 0


def cmd_weights(client: Client, args: argparse.Namespace) -> int:
    """gatenet weights."""
    result = client.get_weights(args.model, safetensors=bool(args.safetensors))
    data = result.to_dict()
    text = render.weights(result)
    if args.safetensors:
        if not result.safetensors:
            raise ClientError("UNIMPLEMENTED", "the server sent no safetensors blob")
        with open(args.safetensors, "wb") as f:
            f.write(result.safetensors)
        data["safetensors_file"] = args.safetensors
        text += f"\nwrote {args.safetensors} ({len(result.safetensors)} bytes)"
    _output(args, data, text)
    return 0


def cmd_models(client: Client, args: argparse.Namespace) -> int:
    """gatenet models."""
    models = client.list_models(name_prefix=args.name_prefix)
    text = render.models_table(models) if models else "no models"
    _output(args, {"models": [m.to_dict() for m in models]}, text)
    return 0


def cmd_model(client: Client, args: argparse.Namespace) -> int:
    """gatenet model."""
    info = client.get_model(args.model)
    _output(args, info.to_dict(), render.model_info(info))
    return 0


def cmd_delete(client: Client, args: argparse.Namespace) -> int:
    """gatenet delete."""
    model_id = client.delete_model(args.model)
    _output(args, {"model_id": model_id, "deleted": True}, f"deleted {model_id}")
    return 0


def cmd_health(client: Client, args: argparse.Namespace) -> int:
    """gatenet health: exit 0 only when SERVING."""
    timeout = args.timeout if args.timeout is not None else HEALTH_TIMEOUT
    status = client.health(args.service, timeout=timeout)
    _output(args, {"status": status}, status)
    return 0 if status == "SERVING" else 1
