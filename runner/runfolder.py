"""The run marker: RUN/run.json says "this folder is a sertack run of this grid", so submit never writes into
a folder it does not own and never mixes two grids in one run.

    empty or absent folder   -> a new run: run.json is created first, atomically and exclusively (os.link), so
                                two submits racing into a new folder agree on one marker
    run.json of a run        -> the same grid carries on; a different grid is refused, naming both, unless
                                `replace=True` (--replace-grid), which first moves the old grid.yaml,
                                run.json and plan/ to RUN/replaced/<UTC time>/

"The same grid" means the same planned jobs: `grid_hash` is the sha256 of the job ids per stage, so changing
resources, executor, profile, container or output (a copied run folder) continues the run, while adding a seed
or changing an epoch count is another grid.
    anything else            -> refused: the folder holds someone's files and is not a run

Runs made before the marker had run.json without `grid_hash`: their hash is taken from their plan files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sercore import __version__
from sercore.errors import ConfigError
from sercore.io import write_json

from .grid import Grid
from .paths import RunPaths

_OWN_TEMP = ".run.json."  # atomic_path's temp name for run.json: a racing submit may see only that


def grid_hash(jobs: dict[str, list[str]]) -> str:
    """sha256 of the planned job ids per stage: what the run computes, whatever its resources or folder."""
    canon = {stage: sorted(ids) for stage, ids in jobs.items() if ids}
    return hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _grid_jobs(grid: Grid) -> dict[str, list[str]]:
    return {stage: [j.id for j in jobs] for stage, jobs in grid.jobs.items()}


def meta(grid: Grid, cache_dir: Path, stages: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {"name": grid.name, "source": str(grid.source), "grid_file": str(Path(grid.source).absolute()),
            "grid_hash": grid_hash(_grid_jobs(grid)), "sertack": __version__, "cache": str(Path(cache_dir).absolute()),
            "stages": stages, "created": now, "planned_at": now}


def read_marker(paths: RunPaths) -> dict[str, Any] | None:
    """run.json if the folder is a sertack run (new or pre-marker format), else None."""
    try:
        data = json.loads(paths.run_meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not ({"grid_hash"} <= set(data) or {"name", "stages", "cache"} <= set(data)):
        return None
    if "grid_hash" not in data:  # a run from before the marker: hash the plan it froze
        data["grid_hash"] = grid_hash({stage: _plan_ids(paths, stage) for stage in data.get("stages", [])})
    return data


def _plan_ids(paths: RunPaths, stage: str) -> list[str]:
    try:
        with paths.plan(stage).open(encoding="utf-8") as fh:
            return [json.loads(line)["id"] for line in fh if line.strip()]
    except (OSError, ValueError, KeyError):
        return []


def check(grid: Grid, paths: RunPaths, *, replace: bool = False) -> dict[str, Any] | None:
    """Raise ConfigError if `grid` may not be submitted into `paths`; return the existing marker (None if new)."""
    root = paths.root
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: output is a file, not a folder (grid {grid.source})")
    marker = read_marker(paths)
    if marker is None:
        others = sorted(e.name for e in os.scandir(root) if not e.name.startswith(_OWN_TEMP)) if root.is_dir() else []
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise ConfigError(f"{root}: output folder is not empty and is not a sertack run (no valid "
                              f"{paths.run_meta.name}; holds {shown}); choose another `output` or empty it")
        return None
    new = grid_hash(_grid_jobs(grid))
    if marker["grid_hash"] != new and not replace:
        old_file = marker.get("grid_file") or marker.get("source") or "?"
        same_file = old_file == str(Path(grid.source).absolute())
        old = f"an earlier version of grid {old_file}" if same_file else f"grid {old_file}"
        raise ConfigError(f"{root}: is a run of {old} (sha256 {marker['grid_hash'][:12] or '?'}), "
                          f"not of {grid.source} (sha256 {new[:12]}); submit that grid, choose another "
                          f"`output`, or pass --replace-grid (the old grid.yaml, run.json and plan/ are kept "
                          f"in {paths.replaced_dir.name}/)")
    return marker


def claim(grid: Grid, paths: RunPaths, cache_dir: Path, stages: list[str], *, replace: bool = False) -> None:
    """Check, then make the folder this grid's run: create run.json, or archive the old grid (replace)."""
    marker = check(grid, paths, replace=replace)
    fresh = meta(grid, cache_dir, stages)
    if marker is not None and marker["grid_hash"] == fresh["grid_hash"]:
        if "sertack" not in marker:  # upgrade a pre-marker run.json in place, keeping its fields
            write_json(paths.run_meta, {**fresh, **marker, "grid_hash": fresh["grid_hash"],
                                        "created": marker.get("planned_at", fresh["created"])})
        return
    if marker is not None:  # replace=True with a different grid
        _archive(paths)
        write_json(paths.run_meta, fresh)
        return
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.root / f"{_OWN_TEMP}{os.getpid()}.tmp"
    tmp.write_text(json.dumps(fresh, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    try:
        os.link(tmp, paths.run_meta)  # exclusive create: fails if another submit made the run first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    check(grid, paths)  # the racing submit's marker must be of the same grid


def _archive(paths: RunPaths) -> Path:
    """Move grid.yaml, run.json and plan/ to replaced/<UTC time>/ (nothing is deleted)."""
    dest = paths.replaced_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest.mkdir(parents=True)
    for src in (paths.grid, paths.run_meta, paths.plan("x").parent):
        if src.exists():
            shutil.move(str(src), dest / src.name)
    return dest
