"""`status RUN`: per stage done / pending / running / failed, from shards, error files and Slurm's accounting.

Shards and error files are the truth for finished jobs. Slurm only refines the rest: a task sacct shows as
running is `running`, queued ones stay `pending`, and a task Slurm ended without the worker writing anything
(TIMEOUT past its requeues, OUT_OF_MEMORY, NODE_FAIL, cancelled) is `failed` with Slurm's state as the reason.
A job resubmitted after a failure counts as pending/running while Slurm still has it. Cancelled array tasks
that never started get no sacct row (submitit 1.5.4 / Slurm behaviour), so they stay `pending`.
"""

from __future__ import annotations

from typing import Any

from .dispatch import read_submitted
from .paths import RunPaths
from .plan import read_plan, states
from .shards import error_reason

RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "RESIZING"}
QUEUED = {"PENDING", "REQUEUED", "SUSPENDED", "PREEMPTED"}
ENDED_BADLY = {"FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "COMPLETED"}


def run_status(paths: RunPaths) -> dict[str, dict[str, Any]]:
    """{stage: {total, done, pending, running, failed, failures: {job id: reason}, unplanned: [ids]}}.

    Read-only: an invalid shard is reported as failed with its reason (CorruptShard: ...); `submit` sets it
    aside and redoes it. Shards whose id is not in the plan are listed under `unplanned` (reduce ignores them)."""
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
        report[stage] = {
            "total": s.total,
            "done": len(s.done),
            "pending": len(pending),
            "running": len(running),
            "failed": len(failures),
            "failures": failures,
            "unplanned": sorted(s.unplanned),
        }
    return report


def _sacct(task_ids: list[str]) -> dict[str, str]:
    if not task_ids:
        return {}
    from .slurm import sacct_states

    return sacct_states(task_ids)
