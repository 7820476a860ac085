"""The run marker: RUN/run.json says "this folder is a sertack run of this grid", so submit never writes into
a folder it does not own and never mixes two grids in one run.

    empty or absent folder   -> a new run: run.json is created first, atomically and exclusively (os.link), so
                                two submits racing into a new folder agree on one marker
    run.json of a run        -> the same grid carries on; a different grid is refused, naming both, unless
                                `replace=True` (--replace-grid), which first moves the old grid.yaml,
                                run.json and plan/ to RUN/replaced/<UTC time>/; a grid that only adds jobs
                                (runner.extend) is archived the same way without the flag (`extend=True`)

"The same grid" means the same planned jobs: `grid_hash` is the sha256 of the job ids per stage, so changing
resources, executor, profile, container or output (a copied run folder) continues the run, while adding a seed
or changing an epoch count is another grid.
    anything else            -> refused: the folder holds someone's files and is not a run

Runs made before the marker had run.json without `grid_hash`: their hash is taken from their plan files.

Repairs (nothing is ever deleted):
    corrupt run.json         -> rebuilt from plan/ (the hash) and grid.yaml (name, cache); the bad file goes to
                                RUN/quarantine/ with its reason. Without a plan the error says to pass
                                --replace-grid, which archives it like any replaced grid.
    interrupted --replace-grid -> the old run.json is copied into the archive first and replaced atomically
                                last, so the folder is always a run; an unfinished archive (`.unfinished`
                                names the new grid's hash) is completed by the next submit of that grid.
    another `cache`          -> applied: run.json takes the new folder (workers read it there), with a warning
                                naming both, so grid.yaml and run.json never disagree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from sercore import __version__
from sercore.errors import ConfigError
from sercore.io import set_aside, write_json

from .grid import Grid
from .paths import STAGES, RunPaths

_OWN_TEMP = ".run.json."  # atomic_path's temp name for run.json: a racing submit may see only that
_UNFINISHED = ".unfinished"  # in replaced/<time>/ until the new run.json is in place; holds the new grid hash

log = logging.getLogger(__name__)


def grid_hash(jobs: dict[str, list[str]]) -> str:
    """sha256 of the planned job ids per stage: what the run computes, whatever its resources or folder."""
    canon = {stage: sorted(ids) for stage, ids in jobs.items() if ids}
    return hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def grid_jobs(grid: Grid) -> dict[str, list[str]]:
    return {stage: [j.id for j in jobs] for stage, jobs in grid.jobs.items()}


def meta(grid: Grid, cache_dir: Path, stages: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {"name": grid.name, "source": str(grid.source), "grid_file": str(Path(grid.source).absolute()),
            "grid_hash": grid_hash(grid_jobs(grid)), "sertack": __version__, "cache": str(Path(cache_dir).absolute()),
            "stages": stages, "created": now, "planned_at": now}


def read_marker(paths: RunPaths) -> dict[str, Any] | None:
    """run.json if the folder is a sertack run (new or pre-marker format), else None."""
    return _load_marker(paths)[0]


def _load_marker(paths: RunPaths) -> tuple[dict[str, Any] | None, str | None]:
    """(marker, None), or (None, why run.json is not one: None when there is no run.json)."""
    try:
        data = json.loads(paths.run_meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"not readable JSON ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(data, dict) or not ({"grid_hash"} <= set(data) or {"name", "stages", "cache"} <= set(data)):
        return None, "not a run marker (no grid_hash)"
    if "grid_hash" not in data:  # a run from before the marker: hash the plan it froze
        data["grid_hash"] = grid_hash({stage: _plan_ids(paths, stage) for stage in data.get("stages", [])})
    return data, None


def _rebuilt(paths: RunPaths, problem: str) -> dict[str, Any] | None:
    """A marker for a run whose run.json is corrupt, from its plan/ (the hash) and grid.yaml; None if no plan."""
    jobs = {stage: _plan_ids(paths, stage) for stage in STAGES if paths.plan(stage).is_file()}
    if not any(jobs.values()):
        return None
    try:
        frozen = yaml.safe_load(paths.grid.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        frozen = None
    frozen = frozen if isinstance(frozen, dict) else {}
    cache = frozen.get("cache") if isinstance(frozen.get("cache"), str) else None
    return {"name": frozen.get("name", paths.root.name), "source": str(paths.grid), "grid_hash": grid_hash(jobs),
            "stages": list(jobs), "cache": str(Path(cache or paths.cache).absolute()), "_corrupt": problem}


def _plan_ids(paths: RunPaths, stage: str) -> list[str]:
    try:
        with paths.plan(stage).open(encoding="utf-8") as fh:
            return [json.loads(line)["id"] for line in fh if line.strip()]
    except (OSError, ValueError, KeyError):
        return []


def check(grid: Grid, paths: RunPaths, *, replace: bool = False) -> dict[str, Any] | None:
    """Raise ConfigError if `grid` may not be submitted into `paths`; return the existing marker (None if new).

    A marker rebuilt from a corrupt run.json carries `_corrupt` (the reason) for `claim` to write it back."""
    root = paths.root
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: output is a file, not a folder (grid {grid.source})")
    marker, problem = _load_marker(paths)
    if problem is not None:
        marker = _rebuilt(paths, problem)
        if marker is None and not replace:
            raise ConfigError(f"{paths.run_meta}: {problem}, and {paths.plan('x').parent} holds no plan to rebuild "
                              f"it from; pass --replace-grid to start a new marker (the bad run.json is kept in "
                              f"{paths.replaced_dir.name}/; no shard is touched)")
        marker = marker or {"grid_hash": "", "_corrupt": problem}
    if marker is None:
        others = sorted(e.name for e in os.scandir(root) if not e.name.startswith(_OWN_TEMP)) if root.is_dir() else []
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise ConfigError(f"{root}: output folder is not empty and is not a sertack run (no valid "
                              f"{paths.run_meta.name}; holds {shown}); choose another `output` or empty it")
        return None
    new = grid_hash(grid_jobs(grid))
    if marker["grid_hash"] != new and not replace and _unfinished(paths, new) is None:
        old_file = marker.get("grid_file") or marker.get("source") or "?"
        same_file = old_file == str(Path(grid.source).absolute())
        old = f"an earlier version of grid {old_file}" if same_file else f"grid {old_file}"
        raise ConfigError(f"{root}: is a run of {old} (sha256 {marker['grid_hash'][:12] or '?'}), "
                          f"not of {grid.source} (sha256 {new[:12]}); submit that grid, choose another "
                          f"`output`, or pass --replace-grid (the old grid.yaml, run.json and plan/ are kept "
                          f"in {paths.replaced_dir.name}/)")
    return marker


def claim(grid: Grid, paths: RunPaths, cache_dir: Path, stages: list[str], *, replace: bool = False,
          extend: bool = False) -> None:
    """Check, then make the folder this grid's run: create run.json, or archive the old grid (replace, or extend:
    runner.extend; an extended run keeps its `created` time, so status's pace counts its earlier shards)."""
    marker = check(grid, paths, replace=replace or extend)
    fresh = meta(grid, cache_dir, stages)
    if extend and marker is not None:
        fresh = {**fresh, "created": marker.get("created", fresh["created"]), "extended_at": fresh["created"]}
    if marker is not None and marker["grid_hash"] == fresh["grid_hash"]:
        _carry_on(paths, marker, fresh)
        return
    if marker is not None:  # a different grid: --replace-grid, or finishing an interrupted one
        dest = _archive(paths, fresh["grid_hash"])
        write_json(paths.run_meta, fresh)  # atomic: until here the old run.json was in place
        (dest / _UNFINISHED).unlink(missing_ok=True)
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


def _carry_on(paths: RunPaths, marker: dict[str, Any], fresh: dict[str, Any]) -> None:
    """The same grid again: rewrite run.json where it is corrupt, from before the marker, or names another cache."""
    if marker.get("_corrupt"):
        _set_aside_marker(paths, marker["_corrupt"])
        marker = {**fresh, "cache": marker["cache"], "rebuilt": fresh["created"]}
        write_json(paths.run_meta, marker)
    elif "sertack" not in marker:  # upgrade a pre-marker run.json in place, keeping its fields
        created = marker.get("planned_at", fresh["created"])
        marker = {**fresh, **marker, "grid_hash": fresh["grid_hash"], "created": created}
        write_json(paths.run_meta, marker)
    if marker.get("cache") != fresh["cache"]:
        log.warning("%s: cache changed from %s to %s; run.json now names the new one (feature stores are rebuilt "
                    "there when a job needs them)", paths.root, marker.get("cache"), fresh["cache"])
        write_json(paths.run_meta, {**marker, "cache": fresh["cache"]})


def _set_aside_marker(paths: RunPaths, problem: str) -> None:
    try:
        dest = set_aside(paths.run_meta, paths.root / "quarantine", f"corrupt run marker: {problem}")
    except FileNotFoundError:  # a racing submit set it aside first
        return
    log.warning("%s: %s; rebuilt from plan/ and grid.yaml (the bad file is kept as %s)", paths.run_meta, problem,
                dest.relative_to(paths.root))


def _unfinished(paths: RunPaths, new_hash: str) -> Path | None:
    """The archive folder of an interrupted --replace-grid towards the grid `new_hash`, if any."""
    for flag in sorted(paths.replaced_dir.glob(f"*/{_UNFINISHED}"), reverse=True):
        try:
            if flag.read_text(encoding="utf-8").strip() == new_hash:
                return flag.parent
        except OSError:
            continue
    return None


def _move(src: Path, dest: Path) -> None:
    """One step of the archive (a seam: tests stop the archive between steps here)."""
    shutil.move(str(src), dest)


def _archive(paths: RunPaths, new_hash: str) -> Path:
    """Copy run.json, then move grid.yaml and plan/ to replaced/<UTC time>/ (nothing is deleted); an unfinished
    archive towards the same grid is completed instead of starting another."""
    dest = _unfinished(paths, new_hash)
    if dest is None or any((dest / src.name).exists() for src in (paths.grid, paths.plan("x").parent)
                           if src.exists()):
        dest = paths.replaced_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest.mkdir(parents=True)
    (dest / _UNFINISHED).write_text(new_hash + "\n", encoding="utf-8")
    if paths.run_meta.exists() and not (dest / paths.run_meta.name).exists():
        shutil.copy2(paths.run_meta, dest / paths.run_meta.name)
    for src in (paths.grid, paths.plan("x").parent):
        if src.exists():
            _move(src, dest / src.name)
    return dest
