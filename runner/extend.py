"""Extending a sweep: a grid that only adds jobs carries on in its run folder without --replace-grid.

A new grid EXTENDS the run's current plan when every job of that plan either keeps its id in the new grid, or is
a transfer job grown by more attacks: same source and target models and settings, and the new job's attack jobs
include all of the old one's. Anything else (a job dropped or changed: another epoch count, a removed seed or eps
value, another slice count or `limit`, a dropped stage) makes another grid, and needs --replace-grid; the error
names the grid keys that differ with their old and new values.

Why transfer jobs re-run: a TransferJob replays EVERY attack job of its source model on one target, and its spec
(hence its id) lists them (sercore.specs.TransferJob.attacks). Adding an eps value or an attack adds attack jobs
on each source model, so each transfer job of those sources becomes a new job that replays the old attacks again
too. Replaying is cheap next to attacking (one forward pass per stored example), so this is accepted and said
("attack set grown") rather than split into one transfer job per attack, which would change every existing run's
transfer ids. The grown jobs' old shards and artefacts move to superseded/transfer/ (`retire`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sercore.errors import ConfigError

from .grid import Grid
from .labels import job_label
from .locks import JobBusy
from .paths import STAGES, RunPaths
from .plan import read_stage
from .planned import PlannedJob
from .redo import attack_keys, attacks_text, grown_reason, match_key, spec_changes, supersede, transfer_base

SHOWN = 3  # grid keys / jobs named in one line

log = logging.getLogger(__name__)


@dataclass
class Extension:
    """How a new grid relates to the run's current plan."""

    added: dict[str, list[PlannedJob]] = field(default_factory=dict)  # stage -> jobs the old plan did not have
    grown: dict[str, PlannedJob] = field(default_factory=dict)  # new transfer job id -> the old job it replaces
    dropped: list[PlannedJob] = field(default_factory=list)  # old jobs with no kept or grown counterpart
    kept: int = 0  # old jobs the new grid keeps as they are

    @property
    def ok(self) -> bool:
        return not self.dropped


def compare(old: Mapping[str, Iterable[PlannedJob]], new: Mapping[str, Iterable[PlannedJob]]) -> Extension:
    """Classify every old job as kept, grown (transfer) or dropped, and every new one as kept, grown or added."""
    ext = Extension()
    new_by_stage = {s: list(v) for s, v in new.items()}
    for stage, jobs in old.items():
        fresh = {e.id: e for e in new_by_stage.get(stage, [])}
        by_base = {transfer_base(e): e for e in fresh.values()} if stage == "transfer" else {}
        for e in jobs:
            if e.id in fresh:
                ext.kept += 1
                continue
            grown = by_base.get(transfer_base(e)) if stage == "transfer" else None
            if grown is not None and attack_keys(e) <= attack_keys(grown) and grown.id not in ext.grown:
                ext.grown[grown.id] = e
            else:
                ext.dropped.append(e)
    old_ids = {e.id for jobs in old.values() for e in jobs}
    for stage, jobs in new_by_stage.items():
        added = [e for e in jobs if e.id not in old_ids and e.id not in ext.grown]
        if added:
            ext.added[stage] = added
    return ext


def find(grid: Grid, paths: RunPaths) -> Extension:
    """The new grid against the run folder's current plan (runner.plan.read_stage)."""
    old = {s: read_stage(paths, s) for s in STAGES if paths.plan(s).is_file()}
    return compare(old, grid.jobs)


def summary(ext: Extension, grid: Grid, paths: RunPaths, *, dry_run: bool) -> list[str]:
    """One line for the extension, one per grid key added, and one per kind of job that (re)runs with its reason."""
    verb = "would extend" if dry_run else "extends"
    lines = [f"grid {grid.source} {verb} the run in {paths.root}: its {ext.kept} planned job(s) are kept "
             f"(finished shards are reused); the old grid.yaml, run.json and plan/ go to "
             f"{paths.replaced_dir.name}/"]
    lines += [f"  grid: {d}" for d in grid_diff(old_raw(paths), grid.raw)]
    for stage, jobs in ext.added.items():
        names = sorted({job_label(e).removeprefix(stage).strip() for e in jobs})
        shown = "; ".join(names[:SHOWN]) + (f"; and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
        lines.append(f"  {stage}: {len(jobs)} new job(s): {shown}")
    if ext.grown:
        new = {e.id: e for e in grid.jobs.get("transfer", [])}
        reasons = {grown_reason(old, new[jid]) or "" for jid, old in ext.grown.items()}
        why = next(iter(reasons)) if len(reasons) == 1 else "their source models gained attacks"
        lines.append(f"  transfer: {len(ext.grown)} job(s) re-run: {why}; their old shards move to "
                     f"{paths.superseded('transfer').relative_to(paths.root)}/")
    return lines


def refusal(ext: Extension, grid: Grid, paths: RunPaths) -> str:
    """What the new grid changes or removes (grid keys, then jobs), for the --replace-grid error."""
    keys = [d for d in grid_diff(old_raw(paths), grid.raw) if not d.split(": ", 1)[-1].startswith("added ")]
    new = {match_key(e): e for jobs in grid.jobs.values() for e in jobs}
    jobs = []
    for e in sorted(ext.dropped, key=lambda j: j.stage == "transfer")[:SHOWN]:  # the transfers follow the rest
        twin = new.get(match_key(e))
        what = (_lost_attacks(e, twin) or ", ".join(spec_changes(e.spec_dict(), twin.spec_dict())[:SHOWN])
                if twin else "dropped")
        jobs.append(f"{job_label(e)} ({what})")
    text = f"grid changes {'; '.join(keys[:SHOWN * 2])}; " if keys else ""
    more = f" and {len(ext.dropped) - SHOWN} more" if len(ext.dropped) > SHOWN else ""
    return f"{text}{len(ext.dropped)} planned job(s) changed or dropped: {'; '.join(jobs)}{more}"


def _lost_attacks(old: PlannedJob, new: PlannedJob) -> str | None:
    """`attack set lost fgsm eps=1.0` for a transfer job whose source lost attacks; None for other changes."""
    if old.stage != "transfer" or transfer_base(old) != transfer_base(new):
        return None
    after = attack_keys(new)
    attacks = old.spec_dict().get("attacks") or []
    lost = [a for a in attacks if json.dumps(a, sort_keys=True) not in after]
    return f"attack set lost {attacks_text(lost, attacks)}" if lost else None


def old_raw(paths: RunPaths) -> Any:
    """The run folder's frozen grid.yaml (None when unreadable: the diff then names the whole grid)."""
    try:
        return yaml.safe_load(paths.grid.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def grid_diff(old: Any, new: Any, key: str = "") -> list[str]:
    """`key: old -> new`, `key: removed (was X)` and `key: added X` for every difference of two grid dicts; a list
    that keeps all its values and gains some (or a value that becomes a list holding it) is `added`."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in [*old, *(k for k in new if k not in old)]:
            sub = f"{key}.{k}" if key else str(k)
            if k not in new:
                out.append(f"{sub}: removed (was {_short(old[k])})")
            elif k not in old:
                out.append(f"{sub}: added {_short(new[k])}")
            else:
                out += grid_diff(old[k], new[k], sub)
        return out
    if old == new:
        return []
    if isinstance(new, list) and not isinstance(old, dict):
        before = old if isinstance(old, list) else [old]
        if all(v in new for v in before):
            return [f"{key or 'grid'}: added {_short([v for v in new if v not in before])}"]
    return [f"{key or 'grid'}: {_short(old)} -> {_short(new)}"]


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def admit(grid: Grid, paths: RunPaths, *, dry_run: bool, echo: Callable[[str], None]) -> Extension | None:
    """The extension when `grid` extends the run in `paths` (echoing what will run and why); None when the run is
    new, of this grid, or being replaced; ConfigError naming what changed when the grid is another one."""
    from . import runfolder

    marker = runfolder.read_marker(paths)
    if marker is None or marker["grid_hash"] == runfolder.grid_hash(runfolder.grid_jobs(grid)):
        return None
    ext = find(grid, paths)
    if ext.ok:
        for line in summary(ext, grid, paths, dry_run=dry_run):
            echo(line)
        return ext
    try:
        runfolder.check(grid, paths)
    except ConfigError as exc:
        raise ConfigError(f"{exc}. It is not an extension: {refusal(ext, grid, paths)}") from None
    return None  # an interrupted --replace-grid towards this grid: claim completes it


def retire(paths: RunPaths, ext: Extension) -> None:
    """Move the grown transfer jobs' old shards and artefacts to superseded/transfer/ (runner.redo.supersede), so
    neither status nor the report lists them as shards outside the plan; one running right now is left alone."""
    for new_id, old in ext.grown.items():
        if not (paths.shard("transfer", old.id).exists() or paths.artefacts("transfer", old.id).exists()):
            continue
        try:
            supersede(paths, "transfer", old.id, f"attack set grown: transfer job {new_id} replays the larger set")
        except JobBusy as exc:
            log.warning("not superseded: %s", exc)
