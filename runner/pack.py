"""Packs: several jobs of one stage in one array task and one process (`resources.<stage>.pack: k`).

Why: a small attack job spends seconds on interpreter start, TensorFlow import, model and data load and tracing,
and milliseconds attacking (issue #14: FGSM on 8 samples 4.4-4.8 s, the attack itself milliseconds); on a
cluster each such job also pays a Slurm task and maybe a container start. A pack pays those once: its jobs are
grouped by the model they read (`upstream`), run one after another through `runner.worker.run_one`, inside
`sercore.attack_job.reuse_models()`, which keeps each model, its prepared data and its compiled estimator (and so
its traced functions) for the next job of the same model.

Nothing else changes: every job still writes its own shard atomically, or its own error file, and a rerun (or a
requeued pack) skips the jobs whose shard exists, so a pack killed half-way resumes job by job. A failed job does
not stop its pack; the pack task fails at the end (so Slurm shows FAILED) naming how many of its jobs failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import submitit

from sercore.errors import JobError
from sercore.io import write_json

from .paths import RunPaths
from .plan import StageRun
from .planned import PlannedJob
from .quiet import quiet
from .worker import release_memory, run_one

log = logging.getLogger(__name__)


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
def _reuse() -> Iterator[None]:
    from sercore.attack_job import reuse_models

    with reuse_models():
        yield


def run_pack(run_dir: str | Path, stage: str, job_ids: Sequence[str]) -> list[tuple[str, BaseException | None]]:
    """Run the jobs in one process, sharing models; (job id, exception or None) per job, in order.

    Writes `logs/<stage>/packs/<first id>.json`: each job's wall seconds (the per-job cost a pack leaves).
    """
    paths = RunPaths(Path(run_dir))
    results: list[tuple[str, BaseException | None]] = []
    timings: dict[str, float] = {}
    t_pack = time.perf_counter()
    with _reuse():
        for job_id in job_ids:
            t0 = time.perf_counter()
            try:
                run_one(paths.root, stage, job_id)
                results.append((job_id, None))
            except Exception as exc:  # recorded in errors/<id>.txt by run_one; the pack goes on
                log.warning("%s job %s failed in its pack: %s", stage, job_id, exc)
                results.append((job_id, exc))
            timings[job_id] = round(time.perf_counter() - t0, 3)
    record = {"stage": stage, "jobs": list(job_ids), "wall_s": timings,
              "pack_s": round(time.perf_counter() - t_pack, 3), "failed": [j for j, e in results if e is not None]}
    try:
        write_json(paths.logs(stage) / "packs" / f"{job_ids[0]}.json", record)
    except (OSError, IndexError):  # timing is informational; never fail a pack over it
        log.exception("could not write the pack record")
    return results


class PackWorker(submitit.helpers.Checkpointable):
    """What submitit pickles for a packed array task: `PackWorker()(run_dir, stage, [job ids])`.

    A requeue (timeout, preemption) re-enters the same call; finished jobs return at once from their shard.
    """

    def __call__(self, run_dir: str, stage: str, job_ids: list[str]) -> str:
        quiet()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        results = run_pack(run_dir, stage, job_ids)
        failed = [j for j, e in results if e is not None]
        if failed:
            raise JobError(f"{len(failed)} of {len(job_ids)} packed {stage} jobs failed: {', '.join(failed)} "
                           "(see errors/<id>.txt)")
        return json.dumps([str(RunPaths(Path(run_dir)).shard(stage, j)) for j in job_ids])


def in_process(paths: RunPaths, run: StageRun, todo: Sequence[PlannedJob], size: int, *, stop_at_error: bool,
               progress: bool) -> None:
    """The local/debug executors' loop with packs: one bar step per job, Keras state released per pack."""
    from tqdm import tqdm

    from .shards import error_reason

    bar = tqdm(total=len(todo), desc=f"{run.stage:<10}", unit="job", disable=not progress, file=sys.stderr)
    try:
        for group in pack_groups(todo, size):
            for job_id, exc in run_pack(paths.root, run.stage, [e.id for e in group]):
                bar.update(1)
                if exc is None:
                    run.succeeded += 1
                    continue
                if stop_at_error:
                    raise exc
                run.failures.append((job_id, error_reason(paths, job_id)))
            release_memory()
    finally:
        bar.close()


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
