"""`python -m sercore COMMAND`: describe a corpus, list models, train or attack one model from the shell.

Each command has its own module in sercore/cli/ (`register_cli(subparsers)`), so this file stays a router.
User mistakes print one line and exit 2; Ctrl-C and SIGTERM one line and exit 130 / 143; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn

from ..errors import SertackError
from ..interrupt import exit_status, signals_raise
from . import exit_now

_COMMAND_MODULES = ("sercore.cli.describe", "sercore.cli.export", "sercore.cli.models", "sercore.cli.train",
                    "sercore.cli.attack")


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run its command; the exit status (2 for a `SertackError`, printed as one line)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m sercore", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        with signals_raise():
            return int(args.func(args) or 0)
    except SertackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: one line, not a 97-line traceback through Keras
        signame, code = exit_status(exc)
        print(f"error: interrupted by {signame}; the same command carries on (training resumes from its backup)",
              file=sys.stderr)
        return code


def run() -> NoReturn:
    """`python -m sercore`'s entry: the exit lives here, so sercore/__main__.py neither prints nor exits."""
    exit_now(main())
