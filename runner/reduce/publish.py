"""Publishing a reduce: one at a time, all or nothing, into the run folder or another one (`reduce --out`).

A reduce writes results/ and report/ into a staging folder `DEST/.reduce.<random>/` and only then swaps each in
with two renames (old aside into the staging folder, new into place), so a reader never sees a half-written
report: a reduce killed while it writes leaves the previous results/ and report/ whole. Only a kill between the
two renames of one folder (microseconds) leaves DEST without it; the next reduce puts the old copy back first.
Reduces of one destination take turns under `fcntl.flock` on DEST/.reduce.lock (runner.locks: the kernel drops
it when the holder dies, so it is never stale). Write failures (a read-only run folder, a full disk) become one
line naming the folder, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sercore.errors import DataError

from ..locks import JobBusy, LockError, holder, locked
from ..paths import RunPaths

log = logging.getLogger(__name__)

LOCK = ".reduce.lock"
STAGING = ".reduce."
OUTPUTS = ("results", "report")
POLL_S = 0.2


class ReduceBusy(JobBusy):
    """Another reduce of this destination holds its lock."""


@dataclass(frozen=True)
class OutPaths(RunPaths):
    """A run's paths with results/ and report/ under `out` (a staging folder) instead of the run folder."""

    out: Path = Path()

    @property
    def results_dir(self) -> Path:
        return self.out / "results"

    @property
    def report_dir(self) -> Path:
        return self.out / "report"


def not_writable(dest: Path, exc: OSError) -> DataError:
    denied = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    hint = "; `reduce --out DIR` writes results/ and report/ elsewhere" if denied else ""
    where = exc.filename or dest
    return DataError(f"{where}: cannot write the reduce's output ({exc.strerror or exc}){hint}")


@contextlib.contextmanager
def reduce_lock(dest: Path, *, wait: bool = True, timeout: float = 3600.0) -> Iterator[None]:
    """Hold DEST/.reduce.lock; wait for another reduce up to `timeout` s (not at all without `wait`)."""
    path = dest / LOCK
    deadline = time.monotonic() + timeout
    with contextlib.ExitStack() as stack:
        while True:
            try:
                stack.enter_context(locked(path, what="reduce"))
                break
            except JobBusy:
                if not wait or time.monotonic() >= deadline:
                    waited = f" (waited {timeout:g} s)" if wait else ""
                    raise ReduceBusy(f"another reduce is running (pid {holder(path).get('pid', '?')}) on "
                                     f"{dest}{waited}") from None
                time.sleep(POLL_S)
            except LockError as exc:  # the lock file cannot be created: the folder is not writable
                cause = exc.__cause__
                if isinstance(cause, OSError):
                    raise not_writable(dest, cause) from exc
                raise
            except OSError as exc:
                raise not_writable(dest, exc) from exc
        yield


def recover(dest: Path) -> None:
    """Under the lock: put back an output a killed reduce had moved aside, drop its staging folders."""
    for stale in sorted(dest.glob(f"{STAGING}*")):
        if not stale.is_dir():
            continue
        for name in OUTPUTS:
            old = stale / f"{name}.old"
            if old.is_dir() and not (dest / name).exists():
                os.rename(old, dest / name)
                log.warning("%s: restored from a reduce killed mid-swap", dest / name)
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def staging(dest: Path) -> Iterator[Path]:
    """A fresh staging folder in DEST; on success its outputs are swapped in, on any failure it is removed."""
    tmp = Path(tempfile.mkdtemp(prefix=STAGING, dir=dest))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # a shared run folder's report stays readable, as a plain mkdir would make it
    try:
        yield tmp
        for name in OUTPUTS:
            if not (tmp / name).is_dir():
                continue
            if (dest / name).exists():
                os.rename(dest / name, tmp / f"{name}.old")
            os.rename(tmp / name, dest / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def publishing(run: RunPaths, out: Path | None = None, *, wait: bool = True,
               timeout: float = 3600.0) -> Iterator[OutPaths]:
    """Paths to reduce `run` into, under the lock, published atomically into `out` (default: the run folder)."""
    dest = Path(out).resolve() if out is not None else run.root
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise not_writable(dest, exc) from exc
    with reduce_lock(dest, wait=wait, timeout=timeout):
        try:
            recover(dest)
            with staging(dest) as tmp:
                yield OutPaths(run.root, out=tmp)
        except OSError as exc:  # a full disk, a folder turned read-only: one line, the traceback with -v
            log.debug("reduce failed", exc_info=True)
            raise not_writable(dest, exc) from exc
