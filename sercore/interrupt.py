"""Ctrl-C and SIGTERM as one exception: what lets a job record why it stopped and a command end in one line.

Python turns SIGINT into a KeyboardInterrupt wherever the program happens to be (a 97-line traceback through
Keras) and SIGTERM's default kills the process before anything is written. Within `signals_raise()` (main thread
of a plain process) both raise `Interrupted` instead; the command lines (runner/cli.py, sercore/cli/main.py) print
one line and exit 128 + the signal number, and the runner's worker first writes the job's error file. A handler
someone else installed is left alone: on a Slurm node submitit's own (USR2 requeues, TERM is bypassed) must keep
working.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class Interrupted(KeyboardInterrupt):
    """A job stopped by SIGINT (Ctrl-C) or SIGTERM: not finished, not a failure of the job itself."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum
        self.signame = signal.Signals(signum).name
        super().__init__(f"{self.signame} stopped the job before it finished (the next submit redoes it)")


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within this block (main thread only), SIGINT and SIGTERM with their default handlers raise Interrupted."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(sig) is default:
                previous[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def as_interrupted(exc: KeyboardInterrupt) -> Interrupted:
    """A plain KeyboardInterrupt (Ctrl-C outside a job) as an Interrupted by SIGINT."""
    return exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)


def exit_status(exc: KeyboardInterrupt) -> tuple[str, int]:
    """(signal name, exit status 128 + signal number, as a shell reports it) of an interruption."""
    stop = as_interrupted(exc)
    return stop.signame, 128 + stop.signum
