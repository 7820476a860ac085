"""Per-job and per-run locks: `fcntl.flock` on a file in the run folder, held while the job runs.

Why flock: the kernel drops the lock when the holder exits or dies (no stale lock files to clean up after a
crash or a Slurm kill), it works between processes on one machine and, on Linux, on NFS (emulated with POSIX
byte-range locks) and Lustre/GPFS mounted with locking. Lock files are never deleted: unlinking a lock file
while someone waits on it would let a third process lock a new file of the same name and run the job twice.

The lock file holds JSON about the last holder: pid, host, start time and `attempts` (how many times the job
was started in this run folder), written under the lock, so it doubles as evidence that a job ran once.
Content that is not that JSON (a truncated write, someone's edit) is only informational: the job runs, the
holder info is rewritten and a warning names the lock. A lock that cannot be opened fails the job naming it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sercore.errors import JobError

from .sanitize import printable

log = logging.getLogger(__name__)


class JobBusy(JobError):
    """Another process holds this lock (runs this job or submits into this run) right now."""


class LockError(JobError):
    """The lock file cannot be opened (a folder in its place, no permission): the job must not run unlocked."""


def holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its last holder ({} when unreadable or not the JSON sertack writes)."""
    return _parse(path)[0]


def _parse(path: Path) -> tuple[dict[str, Any], str | None]:
    """(holder info, why the content is not usable or None)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return {}, f"unreadable ({exc.strerror})"
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}, f"not JSON (starts {printable(text, 40)!r})"
    if not isinstance(data, dict):
        return {}, f"not a JSON object (got {type(data).__name__})"
    attempts = data.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        data = {k: v for k, v in data.items() if k != "attempts"}
        return data, f"attempts is not a whole number (got {printable(repr(attempts), 40)})"
    return data, None


def describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    return printable(f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')}", 120)


class Held:
    """A lock this process holds; `attempt()` records in the lock file that the job is being started."""

    def __init__(self, fd: int, info: dict[str, Any]) -> None:
        self.fd, self.info = fd, info

    def _write(self) -> None:
        data = json.dumps(self.info).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def attempt(self) -> None:
        self.info["attempts"] = int(self.info.get("attempts", 0)) + 1
        self._write()


@contextlib.contextmanager
def locked(path: Path, *, wait: bool = False, what: str = "") -> Iterator[Held]:
    """Hold an exclusive flock on `path`; raise JobBusy at once (wait=False) if another process holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise LockError(f"lock {path}: cannot open ({exc.strerror}); {what or path.name} cannot run safely") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise JobBusy(f"{what or path.name} is held by {describe(holder(path))} (lock {path})") from None
        info, problem = _parse(path)
        if problem:
            log.warning("lock %s: bad content (%s); rewriting it (the attempt count restarts)", path, problem)
        held = Held(fd, {"pid": os.getpid(), "host": socket.gethostname(),
                         "started": datetime.now(UTC).isoformat(timespec="seconds"),
                         "attempts": int(info.get("attempts", 0))})
        held._write()
        yield held
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def attempts(path: Path) -> int:
    """How many times a job was started under its lock (0 if never)."""
    return int(holder(path).get("attempts", 0))
