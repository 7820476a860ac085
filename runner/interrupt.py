"""Ctrl-C and SIGTERM during a local run: the job records why it stopped, the command ends in one line.

The mechanism is sercore.interrupt's (`signals_raise` turns both signals into `Interrupted`): the worker writes
`errors/<id>.txt` whose first line names the signal, and `python -m runner` (runner/cli.py) holds the signals
for the whole command, so a signal between two jobs, while planning or while reducing also ends in one line and
exit 128 + the signal number instead of a traceback (SIGINT) or a silent kill (SIGTERM).
"""

from __future__ import annotations

from sercore.interrupt import Interrupted, as_interrupted, exit_status, signals_raise

__all__ = ["Interrupted", "as_interrupted", "exit_line", "signals_raise"]


def exit_line(exc: KeyboardInterrupt) -> tuple[str, int]:
    """The command line's one line and exit status (128 + signal number, as a shell reports it)."""
    signame, code = exit_status(exc)
    return f"interrupted by {signame}; finished jobs are kept, the same command carries on from them", code
