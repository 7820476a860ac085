"""Packs: every task runs a pack, several jobs of one stage in one process (`resources.<stage>.pack: k`, default 1).

Why packs: a small attack job spends seconds on interpreter start, TensorFlow import, model and data load and
tracing, and milliseconds attacking (issue #14: FGSM on 8 samples 4.4-4.8 s, the attack itself milliseconds); on
a cluster each such job also pays a Slurm task and maybe a container start. A pack pays those once: its jobs are
grouped by the model they read (`upstream`), run one after another through `runner.worker.execute`, inside
`sercore.attack_job.reuse_models()` (packs of more than one job), which keeps each model, its prepared data and
its compiled estimator (and so its traced functions) for the next job of the same model. A pack of one is the
plain one-job task: both executors (runner.executors) run nothing but packs.

Every job still writes its own shard atomically, or its own error file, and a rerun (or a requeued pack) skips
the jobs whose shard exists, so a pack killed half-way resumes job by job. A failed job does not stop its pack;
the Slurm task fails at the end (so Slurm shows FAILED) naming how many of its jobs failed.

A busy job (its lock held by another process: two submits of one run, a resubmitted task) is not a failure: it
is put last and then waited for; last in its task on Slurm, last in its stage in-process (so two local submits
of one run still share the stage's work before one waits for the other). Recording it as failed (what packs
did) showed a false failure in `status` and failed the Slurm task; skipping it (what one-job Slurm tasks did)
could start a dependant stage (`afterany` this task) before the job's shard existed, where the holder was no
array that stage waits for (a local submit of the same run, a task sent by hand): "upstream ... has no shard".
Waiting costs only the holder's remaining time (a flock is released when its
holder exits or dies), and it only happens when a run is submitted twice at once, which the submit lock and the
queued-task check of the Slurm executor already make rare.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sercore.errors import JobError
from sercore.io import write_json

from . import joblog
from .locks import JobBusy
from .paths import RunPaths
from .planned import PlannedJob
from .quiet import quiet
from .worker import RequeueOnce, execute

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one job of a pack ended: `error` None when it succeeded; `ran` False when another process finished
    it meanwhile (its shard appeared while this pack waited); `busy` when another process holds it and the
    caller asked not to wait (it waits later itself)."""

    job_id: str
    error: Exception | None = None
    ran: bool = True
    seconds: float = 0.0
    busy: bool = False


def pack_groups(entries: Sequence[PlannedJob], size: int) -> list[list[PlannedJob]]:
    """Consecutive packs of at most `size` jobs, jobs of one upstream model side by side (plan order within)."""
    if size <= 1:
        return [[e] for e in entries]
    first: dict[str | None, int] = {}
    for i, e in enumerate(entries):
        first.setdefault(e.upstream, i)
    ordered = sorted(entries, key=lambda e: first[e.upstream])  # stable: plan order within one model
    return [list(ordered[i:i + size]) for i in range(0, len(ordered), size)]


@contextlib.contextmanager
def _reuse(shared: bool) -> Iterator[None]:
    """Models kept between the jobs of a pack of several (a pack of one imports nothing it does not need)."""
    if not shared:
        yield
        return
    from sercore.attack_job import reuse_models

    with reuse_models():
        yield


def run_pack(run_dir: str | Path, stage: str, job_ids: Sequence[str],
             log_file: Callable[[str], Path | None] = lambda _: None,
             title: Callable[[str], str] = str, *, wait_busy: bool = True) -> Iterator[Outcome]:
    """Run the jobs in this process, sharing models; yields each job's outcome as it ends (busy jobs last).

    `log_file(job id)`: where that job's log goes (runner.joblog; None: the console). `wait_busy` off: a busy
    job is yielded as `busy` instead of waited for (the in-process executor waits at the end of the stage).
    A pack of several writes `logs/<stage>/packs/<first id>.json`: each job's wall seconds (the per-job cost a
    pack leaves).
    """
    paths = RunPaths(Path(run_dir))
    timings: dict[str, float] = {}
    failed: list[str] = []
    t_pack = time.perf_counter()
    with _reuse(len(job_ids) > 1):
        busy: list[str] = []
        for job_id in job_ids:
            outcome = _attempt(paths, stage, job_id, False, log_file(job_id), title(job_id))
            if outcome is None:
                busy.append(job_id)
                continue
            timings[job_id] = outcome.seconds
            failed += [job_id] if outcome.error else []
            yield outcome
        if busy and not wait_busy:
            yield from (Outcome(job_id, busy=True) for job_id in busy)
            busy = []
        if busy:  # held by a concurrent submit: wait for them, so whatever reads them next finds their shards
            log.warning("%s: %d job(s) are being run by another process; waiting for them", stage, len(busy))
        for job_id in busy:
            outcome = _attempt(paths, stage, job_id, True, log_file(job_id), title(job_id))
            assert outcome is not None  # waiting never meets a busy lock
            timings[job_id] = outcome.seconds
            failed += [job_id] if outcome.error else []
            yield outcome
    if len(job_ids) > 1:
        record = {"stage": stage, "jobs": list(job_ids), "wall_s": timings,
                  "pack_s": round(time.perf_counter() - t_pack, 3), "failed": failed}
        _write_record(paths, stage, job_ids[0], record)


def _attempt(paths: RunPaths, stage: str, job_id: str, wait: bool, log_file: Path | None,
             title: str) -> Outcome | None:
    """One job under its lock; None when another process holds it and `wait` is off."""
    t0 = time.perf_counter()
    try:
        with joblog.job_log(log_file, f"{title} [{job_id}]", not_run=(JobBusy,)):
            _, ran = execute(paths.root, stage, job_id, wait=wait)
    except JobBusy:
        return None
    except Exception as exc:  # recorded in errors/<id>.txt by the worker; the pack goes on
        log.warning("%s job %s failed: %s%s", stage, job_id, exc, f" (log: {log_file})" if log_file else "")
        return Outcome(job_id, exc, seconds=round(time.perf_counter() - t0, 3))
    return Outcome(job_id, None, ran, round(time.perf_counter() - t0, 3))


def _write_record(paths: RunPaths, stage: str, first: str, record: dict[str, Any]) -> None:
    try:
        write_json(paths.logs(stage) / "packs" / f"{first}.json", record)
    except OSError:  # timing is informational; never fail a pack over it
        log.exception("could not write the pack record")


class PackWorker(RequeueOnce):
    """What submitit pickles for every Slurm array task: `PackWorker()(run_dir, stage, [job ids])`.

    A requeue (timeout, preemption) re-enters the same call; finished jobs return at once from their shard.
    """

    def __call__(self, run_dir: str, stage: str, job_ids: list[str]) -> str:
        quiet()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        failed = [o.job_id for o in run_pack(run_dir, stage, job_ids) if o.error is not None]
        if failed:
            raise JobError(f"{len(failed)} of {len(job_ids)} packed {stage} jobs failed: {', '.join(failed)} "
                           "(see errors/<id>.txt)")
        return json.dumps([str(RunPaths(Path(run_dir)).shard(stage, j)) for j in job_ids])


def submit_packs(executor: Any, paths: RunPaths, stage: str, todo: Sequence[PlannedJob], size: int,
                 max_array: int) -> tuple[dict[str, str], list[str]]:
    """Submit the packs as arrays of at most `max_array` tasks; ({job id: Slurm task id}, [array ids])."""
    groups = [[e.id for e in g] for g in pack_groups(todo, size)]
    ids: dict[str, str] = {}
    arrays: list[str] = []
    for start in range(0, len(groups), max_array):
        chunk = groups[start:start + max_array]
        jobs = executor.map_array(PackWorker(), [str(paths.root)] * len(chunk), [stage] * len(chunk), chunk)
        for group, job in zip(chunk, jobs, strict=False):
            ids.update({jid: job.job_id for jid in group})
        arrays.append(jobs[0].job_id.split("_")[0])
    return ids, arrays
