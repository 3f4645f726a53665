"""The `gatenet` command line: every subcommand's flags (argparse), bound to its command."""

from __future__ import annotations

import argparse
import os
from importlib import metadata
from typing import Any, NoReturn

from gatenet.vocabulary.enums import choices
from gatenet.vocabulary.gates import GATE_NAMES

from ..channel import DEFAULT_TARGET
from ..export.model_files import FORMATS
from . import commands

DEFAULT_PLOT_SIZE = (800, 600)


class UsageError(Exception):
    """A command line argparse refuses; main() reports it (as JSON too under --json)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser, self.message = parser, message


class Parser(argparse.ArgumentParser):
    """argparse, raising its usage errors instead of printing them and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def _gates(**_: object) -> tuple[str, ...]:
    """Shell completion of --gate: the gate names, not the files argcomplete offers by default."""
    return GATE_NAMES


def version() -> str:
    """The installed gatenet's version, from its package metadata."""
    try:
        return metadata.version("gatenet")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Repeated on each subcommand so `gatenet predict M 0,1 --json` works too; there the
    # defaults are SUPPRESS so they don't overwrite a value given before the subcommand.
    def d(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    env_target = os.environ.get("GATENET_TARGET") or DEFAULT_TARGET
    parser.add_argument(
        "--target",
        default=d(env_target),
        help=f"server address (env GATENET_TARGET; now {env_target})",
    )
    parser.add_argument("--timeout", type=float, default=d(None), help="deadline in seconds")
    parser.add_argument(
        "--json", action="store_true", default=d(False), help="print one JSON object on stdout"
    )
    parser.add_argument(
        "--token",
        default=d(os.environ.get("GATENET_TOKEN")),
        help="bearer token (env GATENET_TOKEN)",
    )
    tls_env = os.environ.get("GATENET_TLS", "").lower() in ("1", "true", "yes", "on")
    parser.add_argument(
        "--tls", action="store_true", default=d(tls_env), help="use TLS (env GATENET_TLS=1)"
    )
    for flag, env, what in (
        ("--ca", "GATENET_CA", "CA bundle that signed the server's certificate (implies --tls)"),
        ("--cert", "GATENET_CERT", "client certificate chain, for servers that require one"),
        ("--key", "GATENET_KEY", "private key of --cert"),
    ):
        parser.add_argument(
            flag, metavar="PEM", default=d(os.environ.get(env)), help=f"{what} (env {env})"
        )


_RECIPE_HELP = {
    "loss": "bce, or mse = (p - y)^2 as torch's MSELoss: with sgd, a notebook stepping on "
    "(p - y)^2 / 2 needs half its learning rate here (seed 004: --lr 2 for its learning_rate 4); "
    "with adam the same rate matches",
}


def _choice(option: str) -> dict[str, Any]:
    return {"choices": choices(option), "type": lambda s: s.lower().replace("-", "_")}


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model and print its summary")
    task = p.add_argument_group("task (one of)").add_mutually_exclusive_group(required=True)
    gate = task.add_argument("--gate", help=f"a named gate: {', '.join(GATE_NAMES)}")
    gate.completer = _gates  # argcomplete reads this attribute
    task.add_argument(
        "--table",
        metavar="0,1,1,0",
        help="truth table outputs in row order 00..0, 00..1, ...; n is derived",
    )
    task.add_argument(
        "--examples",
        metavar="FILE.csv",
        help="CSV rows: features, then the 0/1 target in the last column",
    )
    p.add_argument("--inputs", type=int, default=0, metavar="N", help="gate arity / num_inputs")
    net = p.add_argument_group("network")
    net.add_argument(
        "--hidden",
        metavar="4|4,4|none",
        help="hidden layer sizes; none = no hidden layer (default: the server's widths)",
    )
    net.add_argument("--activation", **_choice("activation"))
    rec = p.add_argument_group("recipe (unset = server default)")
    for option in ("method", "loss", "reduction", "optimizer", "schedule", "init"):
        rec.add_argument(f"--{option}", help=_RECIPE_HELP.get(option), **_choice(option))
    rec.add_argument("--lr", type=float, help="learning rate")
    rec.add_argument("--lr-scale", metavar="NAME=F,...", help=LR_SCALE_HELP)
    rec.add_argument("--momentum", type=float, help="SGD momentum in [0, 1)")
    rec.add_argument("--batch-size", type=int, help="rows per step for mini_batch")
    rec.add_argument("--steps", type=int, help="step budget")
    rec.add_argument(
        "--initial-weights",
        metavar="FILE.json",
        help="{name: nested list}, or what `gatenet weights --json` prints",
    )
    rec.add_argument("--seed", type=int, help="restart k uses seed + k")
    stop = p.add_argument_group("stopping")
    stop.add_argument(
        "--early-stop", action=argparse.BooleanOptionalAction, help="stop when a restart fits"
    )
    stop.add_argument("--margin", type=float, help="fit margin on the probability, [0, 0.5)")
    stop.add_argument("--restarts", type=int, help="random restarts trained at once")
    stop.add_argument("--check-every", type=int, help="steps between fit checks")
    rec.add_argument(
        "--row-order",
        metavar="I,J,...",
        help="online/mini-batch: visit these rows in order, cycled (replays a notebook's samples)",
    )
    stop.add_argument(
        "--curve-points",
        type=int,
        help="loss-curve points kept (taken at fit checks; --check-every 1 for every step)",
    )
    p.add_argument("--name", default="", help="a unique name to find the model by")
    p.add_argument("--stream", action="store_true", help="stream progress (a bar on stderr)")
    p.set_defaults(run=commands.cmd_train)


LR_SCALE_HELP = "per-tensor lr factors, e.g. layers.0.bias=0,layers.1.bias=0.25 (0 = frozen)"


def _add_family(sub: Any) -> None:
    p = sub.add_parser("family", help="train every function of N inputs (or a list) at once")
    p.add_argument("--inputs", type=int, required=True, metavar="N", help="inputs, 1..4")
    p.add_argument(
        "--tables", nargs="+", metavar="0,1,1,0", help="these functions only (default: all 2^2^N)"
    )
    width = p.add_mutually_exclusive_group()
    width.add_argument("--widths", metavar="A-B", help="width search range (default 0-8)")
    width.add_argument("--hidden", type=int, metavar="W", help="one hidden width for all")
    p.add_argument("--classes", action="store_true", help="train one function per NPN class")
    p.add_argument("--restarts", type=int, help="restarts per function (default 4)")
    p.add_argument("--steps", type=int, help="step budget per width")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--lr-scale", metavar="NAME=F,...", help=LR_SCALE_HELP)
    p.add_argument("--seed", type=int, help="restart k uses seed + k")
    p.add_argument("--margin", type=float, help="fit margin on the probability, [0, 0.5)")
    p.add_argument("--activation", **_choice("activation"))
    p.add_argument("--name", required=True, help="the family's unique name")
    p.set_defaults(run=commands.cmd_family)


def _size(text: str) -> tuple[int, int]:
    """ "800x600" -> (800, 600)."""
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT like 800x600") from None
    if not all(16 <= side <= 10000 for side in size):
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be 16..10000 pixels")
    return size


def _add_files(sub: Any) -> None:
    p = sub.add_parser("import", help="register a model from a safetensors or weights JSON file")
    p.add_argument("file", help="what `gatenet export` or `gatenet weights --json` wrote")
    p.add_argument("--name", default="", help="a unique name for the imported model")
    p.set_defaults(run=commands.cmd_import)
    p = sub.add_parser("export", help="write a model as safetensors, JSON or ONNX")
    p.add_argument("model", help="model id or name")
    p.add_argument(
        "destination",
        nargs="?",
        help="a DIR (made if missing): writes <id>.safetensors and <id>.json there",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="the file (or directory) to write")
    p.add_argument(
        "--format", choices=FORMATS, help="default: from the extension (.safetensors .json .onnx)"
    )
    p.set_defaults(run=commands.cmd_export)
    p = sub.add_parser("plot", help="draw a model to a PNG, SVG, PDF... (needs gatenet[plot])")
    p.add_argument("model", help="model id or name (a family: its capacity picture)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE.png",
        help="the file to write, in the format its extension names (.png .svg .pdf .jpg ...)",
    )
    p.add_argument(
        "--size",
        type=_size,
        default=DEFAULT_PLOT_SIZE,
        metavar="WxH",
        help="the picture's size in pixels (default: {}x{})".format(*DEFAULT_PLOT_SIZE),
    )
    p.add_argument("--loss", action="store_true", help="draw the loss curve instead")
    p.add_argument("--log", action="store_true", help="with --loss: a log-scale loss axis")
    p.set_defaults(run=commands.cmd_plot)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every subcommand but `serve` (which the server parses)."""
    parser = Parser(prog="gatenet", description="Train, query and inspect gatenet models.")
    parser.add_argument("--version", action="version", version=f"gatenet {version()}")
    _add_globals(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_family(sub)
    p = sub.add_parser("predict", help="predict rows with a model")
    p.add_argument("model", help="model id or name")
    p.add_argument("rows", nargs="*", metavar="ROW", help="a row like 0,1 (put -- before 1 -1)")
    p.add_argument("--file", metavar="rows.csv", help="read rows from a CSV file")
    p.set_defaults(run=commands.cmd_predict)
    p = sub.add_parser("weights", help="print a model's parameters")
    p.add_argument("model", help="model id or name")
    p.add_argument("--safetensors", metavar="OUT", help="also write them as a safetensors file")
    p.set_defaults(run=commands.cmd_weights)
    p = sub.add_parser("models", help="list registered models")
    p.add_argument("--name-prefix", default="", help="only names starting with this")
    p.set_defaults(run=commands.cmd_models)
    p = sub.add_parser("model", help="show one model")
    p.add_argument("model", help="model id or name")
    p.set_defaults(run=commands.cmd_model)
    p = sub.add_parser("delete", help="delete a model")
    p.add_argument("model", help="model id or name")
    p.set_defaults(run=commands.cmd_delete)
    p = sub.add_parser("health", help="exit 0 when the server is SERVING")
    p.add_argument("--service", default="", help="service name ('' = the whole server)")
    p.set_defaults(run=commands.cmd_health)
    _add_files(sub)
    sub.add_parser("serve", help="run the server (needs gatenet[server]; see serve --help)")
    for p in sub.choices.values():
        if p.prog != "gatenet serve":
            _add_globals(p, top=False)
    return parser
