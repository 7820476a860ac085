"""`status RUN`: per stage done / pending / running / failed, from shards, error files and Slurm's accounting.

Shards and error files are the truth for finished jobs. Slurm only refines the rest: a task sacct shows as
running is `running`, queued ones stay `pending`, and a task Slurm ended without the worker writing anything
(TIMEOUT past its requeues, OUT_OF_MEMORY, NODE_FAIL, cancelled) is `failed` with Slurm's state as the reason.
A job resubmitted after a failure counts as pending/running while Slurm still has it. Cancelled array tasks
that never started get no sacct row (submitit 1.5.4 / Slurm behaviour), so they stay `pending`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from .labels import labels
from .paths import RunPaths
from .plan import read_meta, read_plan, states
from .planned import PlannedJob
from .provenance import stale_ids
from .shards import error_reason, list_shards
from .submitted import read_submitted

RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "RESIZING"}
QUEUED = {"PENDING", "REQUEUED", "SUSPENDED", "PREEMPTED"}
ENDED_BADLY = {"FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "COMPLETED"}


def run_status(paths: RunPaths) -> dict[str, dict[str, Any]]:
    """{stage: {total, done, pending, running, failed, failures: {job id: reason}, unplanned: [ids],
    stale: n, labels: {job id: label}}}.

    Read-only: an invalid shard is reported as failed with its reason (CorruptShard: ...); `submit` sets it
    aside and redoes it. Shards whose id is not in the plan are listed under `unplanned` (reduce ignores them).
    `stale` counts done shards made by other code (runner.provenance; `submit --rerun-stale` redoes them);
    `labels` names the failed jobs (runner.labels). The attack stage adds `chunks`: {id: [persisted, of]} of its
    unfinished jobs with persisted chunks."""
    plan = read_plan(paths)
    st = states(paths, plan)
    tasks = {s: read_submitted(paths, s).get("jobs", {}) for s in plan}
    slurm = _sacct([t for per in tasks.values() for t in per.values()])
    report: dict[str, dict[str, Any]] = {}
    for stage, s in st.items():
        failures = {jid: s.reasons.get(jid) or error_reason(paths, jid) for jid in sorted(s.failed)}
        pending, running = set(s.pending), set[str]()
        for jid in s.pending | s.failed:
            task = tasks[stage].get(jid)
            state = slurm.get(task, "") if task else ""
            if state in RUNNING or state in QUEUED:
                failures.pop(jid, None)
                pending.discard(jid)
                (running if state in RUNNING else pending).add(jid)
            elif state in ENDED_BADLY and jid in s.pending:
                pending.discard(jid)
                failures[jid] = f"Slurm {state} (task {task}) and no shard; see {paths.logs(stage)}"
        report[stage] = {"total": s.total, "done": len(s.done), "pending": len(pending), "running": len(running),
                         "failed": len(failures), "failures": failures, "unplanned": sorted(s.unplanned),
                         "stale": len(stale_ids(paths, stage, s.done)), "labels": labels(plan[stage], only=failures)}
        if stage == "attack":
            report[stage]["chunks"] = chunk_progress(paths, [e for e in plan[stage] if e.id not in s.done])
    return report


def chunk_progress(paths: RunPaths, entries: list[PlannedJob]) -> dict[str, list[int | None]]:
    """{job id: [chunks persisted, chunks of its slice or None when the test set size is unknown]} of the
    unfinished attack jobs that have persisted at least one chunk (sercore.attack_job's chunks/ folder)."""
    out: dict[str, list[int | None]] = {}
    for e in entries:
        try:
            with os.scandir(paths.artefacts("attack", e.id) / "chunks") as it:
                n = sum(1 for f in it if f.name.startswith("chunk-") and f.name.endswith(".parquet"))
        except FileNotFoundError:
            continue
        if n:
            spec = e.spec_dict()
            limit, size, slices = spec.get("limit"), int(spec.get("chunk_size") or 1), int(spec.get("slices") or 1)
            total = None if limit is None else len(range(-(-int(limit) // size))[int(spec.get("slice", 0))::slices])
            out[e.id] = [n, total]
    return out


def _sacct(task_ids: list[str]) -> dict[str, str]:
    if not task_ids:
        return {}
    from .slurm import sacct_states

    return sacct_states(task_ids)


# ---------------------------------------------------------------- progress of the run as a whole

SESSION_GAP_S = 3600.0  # finishes further apart than this belong to separate sittings (a resumed run)


@dataclass
class RunProgress:
    """Times of a run: since its first submit, its recent rate of finished jobs, and the report's freshness."""

    elapsed_s: float | None  # first submit -> now (or -> the last finish when nothing is left)
    jobs_per_hour: float | None  # over the latest sitting of finishes
    eta_s: float | None  # remaining (pending + running) jobs at that rate
    report: str | None  # report/index.html, if reduce made one
    stale_report: int  # shards newer than the report


def run_progress(paths: RunPaths, report: dict[str, dict[str, Any]], now: float | None = None) -> RunProgress:
    now = time.time() if now is None else now
    finishes = sorted(e.stat().st_mtime for stage in report for e in list_shards(paths, stage).values())
    remaining = sum(v["pending"] + v["running"] for v in report.values())
    started = _started(paths)
    end = now if remaining or not finishes else finishes[-1]
    rate = finish_rate(finishes)
    index = paths.report_dir / "index.html"
    made = index.stat().st_mtime if index.is_file() else None
    return RunProgress(
        elapsed_s=None if started is None else max(0.0, end - started),
        jobs_per_hour=rate,
        eta_s=remaining / rate * 3600 if rate and remaining else (0.0 if not remaining else None),
        report=str(index) if made is not None else None,
        stale_report=sum(t > made for t in finishes) if made is not None else 0,
    )


def finish_rate(finishes: list[float]) -> float | None:
    """Jobs per hour over the latest sitting: the finishes after the last gap longer than SESSION_GAP_S."""
    if len(finishes) < 2:
        return None
    first = len(finishes) - 1
    while first > 0 and finishes[first] - finishes[first - 1] <= SESSION_GAP_S:
        first -= 1
    span = finishes[-1] - finishes[first]
    return (len(finishes) - 1 - first) / span * 3600 if span > 0 else None


def _started(paths: RunPaths) -> float | None:
    from datetime import datetime

    meta = read_meta(paths)
    stamp = meta.get("created") or meta.get("planned_at")
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return None
