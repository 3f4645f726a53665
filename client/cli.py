"""The `gatenet` command: a thin layer over gatenet.client (and `serve`, handed to the server)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from . import cli_input, commands
from .channel import DEFAULT_TARGET
from .client import Client
from .errors import ClientError
from .options import GATES, choices

SERVER_EXTRA_HINT = "gatenet serve needs the server extra: pip install 'gatenet[server]'"
SERVER_EXTRA = {"torch", "prometheus_client", "safetensors", "grpc_reflection"}
_GLOBALS_WITH_VALUE = ("--target", "--timeout", "--token", "--root-certificates")


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
    parser.add_argument("--tls", action="store_true", default=d(False), help="use TLS")
    parser.add_argument(
        "--root-certificates",
        metavar="PEM",
        default=d(None),
        help="CA bundle for TLS (implies --tls)",
    )


def _choice(option: str) -> dict[str, Any]:
    return {"choices": choices(option), "type": lambda s: s.lower().replace("-", "_")}


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model and print its summary")
    task = p.add_argument_group("task (one of)").add_mutually_exclusive_group(required=True)
    task.add_argument("--gate", help=f"a named gate: {', '.join(GATES)}")
    task.add_argument(
        "--table",
        type=cli_input.truth_table,
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
        type=cli_input.hidden_sizes,
        metavar="4|4,4|none",
        help="hidden layer sizes; none = no hidden layer (default: server's)",
    )
    net.add_argument("--activation", **_choice("activation"))
    rec = p.add_argument_group("recipe (unset = server default)")
    for option in ("method", "loss", "reduction", "optimizer", "schedule", "init"):
        rec.add_argument(f"--{option}", **_choice(option))
    rec.add_argument("--lr", type=float, help="learning rate")
    rec.add_argument("--momentum", type=float, help="SGD momentum in [0, 1)")
    rec.add_argument("--batch-size", type=int, help="rows per step for mini_batch")
    rec.add_argument("--steps", type=int, help="step budget")
    rec.add_argument("--initial-weights", metavar="FILE.json", help="{name: nested list}")
    rec.add_argument("--seed", type=int, help="restart k uses seed + k")
    stop = p.add_argument_group("stopping")
    stop.add_argument(
        "--early-stop", action=argparse.BooleanOptionalAction, help="stop when a restart fits"
    )
    stop.add_argument("--margin", type=float, help="fit margin on the probability, [0, 0.5)")
    stop.add_argument("--restarts", type=int, help="random restarts trained at once")
    stop.add_argument("--check-every", type=int, help="steps between fit checks")
    p.add_argument("--name", default="", help="a unique name to find the model by")
    p.add_argument("--stream", action="store_true", help="stream progress (a bar on stderr)")
    p.set_defaults(run=commands.cmd_train)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every subcommand but `serve` (which the server parses)."""
    parser = argparse.ArgumentParser(
        prog="gatenet", description="Train, query and inspect gatenet models."
    )
    _add_globals(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
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
    sub.add_parser("serve", help="run the server (needs gatenet[server]; see serve --help)")
    for p in sub.choices.values():
        if p.prog != "gatenet serve":
            _add_globals(p, top=False)
    return parser


def _serve_args(argv: list[str]) -> list[str] | None:
    """The arguments after `serve` when that is the command, else None."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "serve":
            return argv[i + 1 :]
        if token in _GLOBALS_WITH_VALUE:
            i += 2
        elif token.startswith("--") and token != "--":
            i += 1
        else:
            return None
    return None


def serve(argv: list[str]) -> int:
    """Run the server's own command line (gatenet.server.app), imported only now."""
    try:
        app = importlib.import_module("gatenet.server.app")
    except ImportError as err:  # one line, never a traceback
        missing = err.name if isinstance(err, ModuleNotFoundError) else None
        if (missing or "").split(".")[0] in SERVER_EXTRA:
            print(SERVER_EXTRA_HINT, file=sys.stderr)
        else:
            print(f"error: gatenet serve is unavailable: {err}", file=sys.stderr)
        return 2
    return int(app.main(argv) or 0)


def _error(err: ClientError) -> str:
    if err.code == "UNAVAILABLE":
        return f"error: cannot reach the gatenet server at {err.target} ({err})"
    return f"error: {err}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gatenet` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    serve_args = _serve_args(argv)
    if serve_args is not None:
        return serve(serve_args)
    args = build_parser().parse_args(argv)
    try:
        with Client(
            args.target,
            timeout=args.timeout,
            token=args.token,
            tls=args.tls,
            root_certificates=args.root_certificates,
        ) as client:
            return args.run(client, args)
    except ClientError as err:
        print(_error(err), file=sys.stderr)
        return 1
    except ValueError as err:  # client-side validation and unreadable inputs: usage errors
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
