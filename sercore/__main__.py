"""`python -m sercore COMMAND`: the command lines live in sercore/cli/ (router: sercore/cli/main.py)."""

from __future__ import annotations

from .cli.main import main, run

__all__ = ["main"]

if __name__ == "__main__":
    run()
