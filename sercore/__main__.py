"""`python -m sercore COMMAND`: describe a corpus, list models, train or attack one model from the shell.

Each command lives in the module that does the work (`register_cli(subparsers)`), so this file stays a router.
User mistakes print one line and exit 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .errors import SertackError

_COMMAND_MODULES = ("sercore.describe", "sercore.models", "sercore.train", "sercore.attack_job")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m sercore", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except SertackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
