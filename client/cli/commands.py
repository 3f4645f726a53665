"""What each `gatenet` subcommand does: call the client, print JSON or human output."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from ..client import Client
from ..errors import ClientError, MissingExtra
from ..export import model_files
from ..results import ModelInfo, json_text
from . import cli_input, render

HEALTH_TIMEOUT = 10.0  # seconds; a health probe must answer even when no --timeout is given

# train flags (dest) -> the Client.train keyword (the proto's field name) they set
_FLAG_KEYWORDS = {
    name: name
    for name in (
        "activation method loss reduction optimizer momentum schedule batch_size steps"
        " init seed early_stop margin restarts check_every curve_points"
    ).split()
} | {"lr": "learning_rate"}


def _output(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json_text(data) if args.json else text)


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """Client.train keyword arguments from the train subcommand's flags."""
    # Parsed here, not by argparse types: a bad value is one "error: ..." line, no usage dump.
    options = {
        "gate": args.gate,
        "num_inputs": args.inputs,
        "truth_table": cli_input.truth_table(args.table) if args.table is not None else None,
        "examples": cli_input.examples(args.examples) if args.examples else None,
        "initial_weights": (
            cli_input.weights_json(args.initial_weights) if args.initial_weights else None
        ),
        "name": args.name,
    }
    for key, option in _FLAG_KEYWORDS.items():
        options[option] = getattr(args, key)
    if args.hidden is not None:
        options["hidden_sizes"] = cli_input.hidden_sizes(args.hidden)
    if args.row_order is not None:
        options["row_order"] = cli_input.row_indices(args.row_order)
    if args.lr_scale is not None:
        options["learning_rate_scale"] = cli_input.lr_scales(args.lr_scale)
    return options


def _train_streaming(
    client: Client, args: argparse.Namespace, options: dict[str, Any]
) -> ModelInfo:
    """Train with TrainStream, drawing a progress bar on stderr unless --json."""
    bar = None if args.json else render.ProgressBar(sys.stderr, args.steps)
    try:
        for event in client.train_stream(**options):
            if isinstance(event, ModelInfo):
                if bar is not None:
                    bar.finish(event)
                return event
            if bar is not None:
                bar.update(event)
    finally:
        if bar is not None:
            bar.close()
    raise ClientError("UNKNOWN", "the stream ended without a model", target=client.target)


def cmd_train(client: Client, args: argparse.Namespace) -> int:
    """gatenet train."""
    options = train_options(args)
    if args.stream:
        info = _train_streaming(client, args, options)
    else:
        info = client.train(**options)
    _output(args, info.to_dict(), render.model_info(info))
    return 0


def cmd_family(client: Client, args: argparse.Namespace) -> int:
    """gatenet family."""
    widths = cli_input.width_range(args.widths) if args.widths is not None else None
    family = client.train_family(
        args.inputs,
        args.name,
        tables=args.tables,
        hidden=args.hidden,
        widths=widths,
        classes=args.classes,
        restarts=args.restarts,
        steps=args.steps,
        learning_rate=args.lr,
        learning_rate_scale=cli_input.lr_scales(args.lr_scale) if args.lr_scale else None,
        seed=args.seed,
        margin=args.margin,
        activation=args.activation,
    )
    _output(args, family.to_dict(), render.capacity_table(family))
    return 0


def cmd_predict(client: Client, args: argparse.Namespace) -> int:
    """gatenet predict."""
    if bool(args.rows) == bool(args.file):
        raise cli_input.InputError("give rows like 0,1 1,1 or --file rows.csv (not both)")
    if args.file:
        rows = cli_input.csv_rows(args.file)
    else:
        lines = [cli_input.numbers(r, "row") for r in args.rows]
        if len({len(r) for r in lines}) != 1:
            raise cli_input.InputError("rows have different numbers of values")
        rows = np.asarray(lines, dtype=np.float32)
    result = client.predict(args.model, rows)
    _output(args, result.to_dict(), render.prediction(result, rows))
    return 0


def cmd_weights(client: Client, args: argparse.Namespace) -> int:
    """gatenet weights."""
    result = client.get_weights(args.model, safetensors=bool(args.safetensors))
    data = result.to_dict()
    text = render.weights(result)
    if args.safetensors:
        size = _write(args.safetensors, model_files.encode(result, "safetensors"))
        data["safetensors_file"] = args.safetensors
        text += f"\nwrote {args.safetensors} ({size} bytes)"
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


def cmd_import(client: Client, args: argparse.Namespace) -> int:
    """gatenet import: register a model from a safetensors or weights-JSON file."""
    info = client.import_model(args.file, name=args.name or None)
    _output(args, info.to_dict(), render.model_info(info))
    return 0


def _write(path: str, data: bytes) -> int:
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def cmd_export(client: Client, args: argparse.Namespace) -> int:
    """gatenet export: the model as safetensors, JSON or ONNX files."""
    destination = args.output or args.destination
    if not destination:
        raise cli_input.InputError("give where to write: -o FILE.safetensors|.json|.onnx or a DIR")
    # A positional destination is a directory (README: `gatenet export xor models/`), and so
    # is an -o path ending in a separator; either is made when missing.
    into_dir = not args.output or destination.endswith(os.sep) or os.path.isdir(destination)
    formats = [args.format] if args.format else None
    if not into_dir:
        formats = formats or [model_files.format_of(destination)]
    weights = client.get_weights(
        args.model, safetensors=formats is None or "safetensors" in formats
    )
    if into_dir:
        os.makedirs(destination, exist_ok=True)
    files = []
    for fmt in formats or ["safetensors", "json"]:
        path = os.path.join(destination, f"{weights.model_id}.{fmt}") if into_dir else destination
        size = _write(path, model_files.encode(weights, fmt))
        files.append({"path": path, "format": fmt, "bytes": size})
    text = "\n".join(f"wrote {f['path']} ({f['bytes']} bytes)" for f in files)
    _output(args, {"model_id": weights.model_id, "files": files}, text)
    return 0


def cmd_plot(client: Client, args: argparse.Namespace) -> int:
    """gatenet plot: a picture of the model's decision surface, truth table or loss curve."""
    try:
        from . import plot_command  # matplotlib is an extra: import it only when asked
    except ImportError as err:
        if not (err.name or "").startswith("matplotlib"):
            raise
        hint = "gatenet plot needs matplotlib: pip install 'gatenet[plot]'"
        raise MissingExtra(hint, name="matplotlib") from None
    if args.log and not args.loss:
        raise cli_input.InputError("--log sets the loss axis: use it with --loss")
    plot_command.plot.format_of(args.output)  # refused before any call, not after
    width, height = args.size
    plot_command.draw(client, args.model, args.output, args.size, loss=args.loss, log=args.log)
    _output(
        args,
        {"file": args.output, "width": width, "height": height},
        f"wrote {args.output} ({width}x{height})",
    )
    return 0
