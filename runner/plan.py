"""Run plans: the jobs of a grid written to RUN/plan/<stage>.jsonl, and each job's state read back from disk.

A job is done when its shard exists and is valid (runner.shards: readable footer, run columns, rows, its own job
id) and failed when only its error file exists or its shard is invalid; everything else is pending (`status`
further splits pending into queued/running with Slurm's accounting). States come from two directory listings per
stage plus one footer read per new shard (threaded; remembered by size and mtime), so planning against 10,000
already-checked shards costs one stat each (~0.2-0.4 s on the loaded dev VM).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sercore.errors import ConfigError, JobError
from sercore.io import write_text

from .grid import Grid
from .paths import STAGES, RunPaths
from .planned import PlannedJob
from .shards import check_stage, job_files


@dataclass
class StageRun:
    """What one stage did in this submission."""

    stage: str
    total: int
    already_done: int
    submitted: int = 0
    succeeded: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (job id, one-line reason)
    slurm_ids: list[str] = field(default_factory=list)  # array ids (slurm)
    elsewhere: int = 0  # jobs another process (a concurrent submit) held and finished meanwhile
    held: int = 0  # slurm: jobs another submission still has queued or running (not submitted again)
    todo: dict[str, str] = field(default_factory=dict)  # job id -> why it runs (runner.redo.todo_reasons)


@dataclass
class StageState:
    """Which of a stage's jobs are done, failed or pending (ids)."""

    stage: str
    total: int
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)  # invalid shards not (yet) set aside: id -> why
    unplanned: set[str] = field(default_factory=set)  # shards in shards/<stage>/ whose id is not in the plan
    redo: dict[str, str] = field(default_factory=dict)  # done jobs run again (runner.redo): id -> why

    def counts(self) -> dict[str, int]:
        return {"total": self.total, "done": len(self.done), "failed": len(self.failed), "pending": len(self.pending)}


def write_plan(grid: Grid, paths: RunPaths, cache_dir: Path, *, replace: bool = False,
               extend: bool = False) -> dict[str, list[PlannedJob]]:
    """Freeze the grid into the run folder: run.json (runner.runfolder: refuses a foreign folder or another
    grid unless `replace`, or `extend` for a grid that only adds jobs: runner.extend), grid.yaml and one plan
    file per stage."""
    from .runfolder import claim

    plan = grid.jobs
    claim(grid, paths, cache_dir, list(plan), replace=replace, extend=extend)
    write_text(paths.grid, yaml.safe_dump(grid.raw, sort_keys=False))
    for stage in STAGES:
        target = paths.plan(stage)
        if stage in plan:
            write_text(target, "".join(e.to_json() + "\n" for e in plan[stage]))
        elif target.exists():
            target.unlink()  # a stage dropped from the grid is no longer part of the run
    return plan


def read_meta(paths: RunPaths) -> dict[str, Any]:
    try:
        return json.loads(paths.run_meta.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{paths.root}: not a run folder (no {paths.run_meta.name}; run `submit` first)") from exc


def read_plan(paths: RunPaths) -> dict[str, list[PlannedJob]]:
    """All stages' planned jobs, in stage order."""
    if not paths.run_meta.exists():
        read_meta(paths)  # raises the one-line error
    return {stage: read_stage(paths, stage) for stage in STAGES if paths.plan(stage).is_file()}


def read_stage(paths: RunPaths, stage: str) -> list[PlannedJob]:
    """One stage's planned jobs (empty when the run has no such stage); raises DataError naming a bad line."""
    path = paths.plan(stage)
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [PlannedJob.from_json(line, f"{path}:{n}", stage) for n, line in enumerate(fh, start=1) if line.strip()]


def find_entry(paths: RunPaths, stage: str, job_id: str) -> PlannedJob:
    """The plan line of one job (prefix match, so a worker never parses 10,000 specs to find its own)."""
    prefix = f'{{"id":"{job_id}"'
    try:
        with paths.plan(stage).open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(prefix):
                    return PlannedJob.from_json(line, str(paths.plan(stage)), stage)
    except FileNotFoundError as exc:
        raise JobError(f"{paths.plan(stage)}: no plan for stage {stage!r}") from exc
    raise JobError(f"{paths.plan(stage)}: no job {job_id!r} in the plan")


def states(paths: RunPaths, plan: Mapping[str, Iterable[str | PlannedJob]], *,
           repair: bool = False) -> dict[str, StageState]:
    """done / failed / pending per stage from the shard folders and the error folder.

    `repair` (submit) sets invalid shards aside into RUN/quarantine/; without it (plan, status) they are only
    reported, as failed with their reason."""
    errors = set(job_files(paths.error_dir, ".txt"))
    out: dict[str, StageState] = {}
    for stage, items in plan.items():
        ids = [i.id if isinstance(i, PlannedJob) else i for i in items]
        shards = check_stage(paths, stage, ids, repair=repair)
        st = StageState(stage, len(ids), unplanned=shards.unplanned)
        for job_id in ids:
            if job_id in shards.good:
                st.done.add(job_id)
            elif job_id in shards.bad:
                st.failed.add(job_id)
                st.reasons[job_id] = shards.bad[job_id]
            elif job_id in errors:
                st.failed.add(job_id)
            else:
                st.pending.add(job_id)
        out[stage] = st
    return out


