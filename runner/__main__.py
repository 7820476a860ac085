"""`python -m runner ...` (see runner/cli.py)."""

from sercore.cli import exit_now

from .cli import main

if __name__ == "__main__":
    exit_now(main())
