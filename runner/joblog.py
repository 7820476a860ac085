"""Per-job log files and one-line progress for the local executor.

Each job run in-process writes RUN/logs/<stage>/<id>.log: a header (label, start time), everything the job logs
(the root logger at INFO for the job's duration, the console keeps its own level), then `ok after 12.3 s` or the
traceback. A rerun appends. sys.stdout and sys.stderr are not redirected: a library imported during the job
(TensorFlow, ART) keeps the stream it found, and a log file closed under it broke every later write in the
process ("I/O operation on closed file", found with pytest's capture). sercore logs instead of printing, so little
is lost; TensorFlow's C++ output is kept quiet by TF_CPP_MIN_LOG_LEVEL (runner.quiet).

When the console is not a terminal (a log file, CI) a progress bar would write a `\\r` line per update, so the
executor prints one line per finished job instead (`line`). The debug executor keeps everything on screen.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextlib.contextmanager
def job_log(path: Path | None, title: str, not_run: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Send the job's logging and Python-level output to `path` while the block runs (None: leave it on the
    console); an exception of a `not_run` type (another process holds the job) is noted as such, not as a
    failure."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"== {title}\n== started {datetime.now(UTC).isoformat(timespec='seconds')}\n")
        fh.flush()
        start = time.monotonic()
        with _logging_to(fh):
            try:
                yield
            except not_run as exc:
                fh.write(f"== not run here: {exc}\n")
                raise
            except BaseException:
                fh.write(traceback.format_exc())
                fh.write(f"== failed after {time.monotonic() - start:.1f} s\n")
                raise
            fh.write(f"== ok after {time.monotonic() - start:.1f} s\n")


@contextlib.contextmanager
def _logging_to(fh: TextIO) -> Iterator[None]:
    root = logging.getLogger()
    old_level = root.level
    unset = [h for h in root.handlers if h.level == logging.NOTSET]
    for h in unset:  # the console keeps showing what it showed before
        h.setLevel(old_level)
    handler = logging.StreamHandler(fh)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(min(old_level, logging.INFO) if old_level != logging.NOTSET else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for h in unset:
            h.setLevel(logging.NOTSET)


def line(stage: str, k: int, n: int, label: str, outcome: str, seconds: float) -> str:
    """`attack [3/16] attack emodb paper seed 0 fgsm eps=0.25: ok (12.3 s)`."""
    return f"{stage} [{k}/{n}] {label}: {outcome} ({seconds:.1f} s)"
