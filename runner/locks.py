"""Per-job and per-run locks: `fcntl.flock` on a file in the run folder, held while the job runs.

Why flock: the kernel drops the lock when the holder exits or dies (no stale lock files to clean up after a
crash or a Slurm kill), it works between processes on one machine and, on Linux, on NFS (emulated with POSIX
byte-range locks) and Lustre/GPFS mounted with locking. Lock files are never deleted: unlinking a lock file
while someone waits on it would let a third process lock a new file of the same name and run the job twice.

The lock file holds JSON about the last holder: pid, host, start time and `attempts` (how many times the job
was started in this run folder), written under the lock, so it doubles as evidence that a job ran once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sercore.errors import JobError


class JobBusy(JobError):
    """Another process holds this lock (runs this job or submits into this run) right now."""


def holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its last holder ({} when unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')}"


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise JobBusy(f"{what or path.name} is held by {describe(holder(path))} (lock {path})") from None
        held = Held(fd, {"pid": os.getpid(), "host": socket.gethostname(),
                         "started": datetime.now(UTC).isoformat(timespec="seconds"),
                         "attempts": int(holder(path).get("attempts", 0))})
        held._write()
        yield held
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def attempts(path: Path) -> int:
    """How many times a job was started under its lock (0 if never)."""
    return int(holder(path).get("attempts", 0))
