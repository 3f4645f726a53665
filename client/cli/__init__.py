"""The `gatenet` command: a thin layer over gatenet.client (and `serve`, handed to the server)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..client import Client
from ..errors import ClientError, MissingExtra
from ..results import json_text
from .parser import UsageError, build_parser

SERVER_EXTRA_HINT = "gatenet serve needs the server extra: pip install 'gatenet[server]'"
SERVER_EXTRA = {"torch", "prometheus_client", "safetensors", "grpc_reflection"}
_GLOBALS_WITH_VALUE = ("--target", "--timeout", "--token", "--ca", "--cert", "--key")
# --json's error code for a local file that cannot be read or written (gRPC's names)
_OS_CODES: dict[type[OSError], str] = {
    FileNotFoundError: "NOT_FOUND",
    PermissionError: "PERMISSION_DENIED",
    FileExistsError: "ALREADY_EXISTS",
}

__all__ = ["build_parser", "main", "serve"]


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


def _fail(as_json: bool, status: int, code: str, message: str, line: str) -> int:
    """A failure: one line on stderr; under --json also one error object on stdout."""
    print(line, file=sys.stderr)
    if as_json:
        print(json_text({"error": {"code": code, "message": message}}))
    return status


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        return parser.parse_args(argv)
    except UsageError as err:  # argparse's usage line and message, exit 2; with --json, JSON
        err.parser.print_usage(sys.stderr)
        line = f"{err.parser.prog}: error: {err.message}"
        sys.exit(_fail("--json" in argv, 2, "INVALID_ARGUMENT", err.message, line))
    except SystemExit:
        sys.stdout.flush()  # --help/--version into a closed pipe: fail here, where it's caught
        raise


def _run(argv: list[str]) -> int:
    serve_args = _serve_args(argv)
    if serve_args is not None:
        return serve(serve_args)
    args = _parse(argv)
    as_json = bool(args.json)
    try:
        with Client(
            args.target,
            timeout=args.timeout,
            token=args.token,
            tls=args.tls,
            root_certificates=args.ca,
            certificate_chain=args.cert,
            private_key=args.key,
        ) as client:
            status: int = args.run(client, args)
            sys.stdout.flush()  # a closed pipe fails here, inside main, not at exit
            return status
    except ClientError as err:
        return _fail(as_json, 1, err.code, err.message, _error(err))
    except MissingExtra as err:
        return _fail(as_json, 1, "FAILED_PRECONDITION", str(err), f"error: {err}")
    except ValueError as err:  # client-side validation and unreadable inputs: usage errors
        return _fail(as_json, 2, "INVALID_ARGUMENT", str(err), f"error: {err}")
    except BrokenPipeError:
        raise  # an OSError, but not a failure: main() handles it
    except OSError as err:
        code = _OS_CODES.get(type(err), "UNKNOWN")
        return _fail(as_json, 1, code, str(err), f"error: {err}")
    except KeyboardInterrupt:
        return _fail(as_json, 130, "CANCELLED", "interrupted", "interrupted")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gatenet` command; returns the exit status."""
    try:
        return _run(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # The reader left (`gatenet models | head -1`): what we had to say is no longer wanted.
        # As the Python docs advise, point stdout at devnull so the exit flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
