"""A run folder this process cannot write (a finished run shared read-only, a read-only mount).

`submit` writes run.json, the plan and a lock before it looks at what is done, so in such a folder it used to end
in a PermissionError traceback even when every job was done. It first checks here: nothing to do is said in one
line (exit 0); work left is one clear error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sercore.errors import ConfigError

from .paths import RunPaths

if TYPE_CHECKING:
    from .grid import Grid


def write_error(folder: Path) -> OSError | None:
    """Why no file can be created in `folder` (None when one can): tried, since os.access ignores read-only
    mounts for root and ACLs for everyone."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".probe.", dir=folder)
    except OSError as exc:
        return exc
    os.close(fd)
    os.unlink(tmp)
    return None


def nothing_to_do(grid: Grid, stages: Sequence[str] | None) -> str | None:
    """The line to print when `grid`'s run folder is read-only and every selected job is done.

    None when the folder is absent or writable (submit goes ahead); ConfigError when it is read-only with work
    left, or is not a run of this grid (runner.runfolder's message)."""
    from . import runfolder
    from .dispatch import select_stages
    from .plan import states

    paths = RunPaths(grid.output)
    if not paths.root.is_dir():
        return None
    err = write_error(paths.root)
    if err is None:
        return None
    runfolder.check(grid, paths)
    chosen = select_stages(grid, stages)
    counts = [s.counts() for s in states(paths, {s: grid.jobs[s] for s in chosen}).values()]
    total, done = sum(c["total"] for c in counts), sum(c["done"] for c in counts)
    if done < total:
        raise ConfigError(f"{paths.root}: run folder is not writable ({err.strerror}) and {total - done} of "
                          f"{total} job(s) are not done; make it writable or set another `output`")
    return f"nothing to do: {done}/{total} jobs done (run folder {paths.root} is read-only)"
