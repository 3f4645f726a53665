"""The `gatenet` command: a thin layer over gatenet.client (and `serve`, handed to the server)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .cli_parser import build_parser
from .client import Client
from .errors import ClientError, MissingExtra

SERVER_EXTRA_HINT = "gatenet serve needs the server extra: pip install 'gatenet[server]'"
SERVER_EXTRA = {"torch", "prometheus_client", "safetensors", "grpc_reflection"}
_GLOBALS_WITH_VALUE = ("--target", "--timeout", "--token", "--ca", "--cert", "--key")

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


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        return parser.parse_args(argv)
    except SystemExit:
        sys.stdout.flush()  # --help/--version into a closed pipe: fail here, where it's caught
        raise


def _run(argv: list[str]) -> int:
    serve_args = _serve_args(argv)
    if serve_args is not None:
        return serve(serve_args)
    args = _parse(argv)
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
            code: int = args.run(client, args)
            sys.stdout.flush()  # a closed pipe fails here, inside main, not at exit
            return code
    except ClientError as err:
        print(_error(err), file=sys.stderr)
        return 1
    except MissingExtra as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # client-side validation and unreadable inputs: usage errors
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # an OSError, but not a failure: main() handles it
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


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


if __name__ == "__main__":
    sys.exit(main())
