"""Executors behind one protocol: what `runner.dispatch.submit` hands each stage's missing jobs to.

    local   InProcess: in this process, stages in order, a progress bar per stage (a line per job where stderr
            is no terminal); keeps going past a failed job (its dependants then fail fast with "upstream ...
            has no shard") and reports failures at the end
    debug   InProcess(stop_at_error): stops at the first failure with its full traceback (submitit's
            DebugExecutor idea, without dropping into pdb)
    slurm   SlurmArrays: one submitit array per stage, chunked to MaxArraySize, each stage `afterany` the arrays
            of the stages it reads (runner.stages.needs; the worker checks its inputs); submits and returns.
            O(stages) sbatch calls.

Both run nothing but packs (runner.pack; a pack of one is the plain one-job task), so a job is executed, logged
and counted one way, and a busy job (held by another process) meets one policy: it is waited for.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import joblog
from .container import check_binds
from .grid import Grid
from .labels import labels
from .locks import JobBusy, locked
from .pack import Outcome, pack_groups, run_pack, submit_packs
from .paths import RunPaths
from .plan import StageRun
from .planned import PlannedJob
from .resources import load_profile
from .shards import error_reason
from .stages import needs
from .submitted import read_submitted, record_submitted
from .worker import release_memory

log = logging.getLogger(__name__)

ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "PREEMPTED"}


class Executor(Protocol):
    """Runs or submits one stage at a time, stages in dependency order."""

    def session(self) -> AbstractContextManager[None]:
        """Held while the stages are planned and run (Slurm: one submitter per run folder)."""

    def held(self, stage: str) -> dict[str, str]:
        """Jobs another submission still runs, {job id: task}: not run again now."""

    def run(self, run: StageRun, todo: list[PlannedJob]) -> None:
        """Run or submit `todo` (nothing on a dry run), counting into `run`."""


def executor_for(name: str, grid: Grid, paths: RunPaths, *, dry_run: bool, progress: bool,
                 echo: Callable[[str], None]) -> Executor:
    if name == "slurm":
        return SlurmArrays(grid, paths, dry_run=dry_run, echo=echo)
    return InProcess(grid, paths, dry_run=dry_run, progress=progress, stop_at_error=name == "debug")


def cache_dir(grid: Grid, paths: RunPaths) -> Path:
    return (grid.cache or paths.cache).absolute()


# ---------------------------------------------------------------- in this process


class InProcess:
    """The local and debug executors: each stage's packs one after another, each job with its log file
    (runner.joblog; debug keeps everything on screen)."""

    def __init__(self, grid: Grid, paths: RunPaths, *, dry_run: bool, progress: bool, stop_at_error: bool) -> None:
        self.grid, self.paths, self.dry_run = grid, paths, dry_run
        self.progress, self.stop_at_error = progress, stop_at_error

    def session(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def held(self, stage: str) -> dict[str, str]:
        return {}  # a job another process runs is waited for when its turn comes (runner.pack)

    def run(self, run: StageRun, todo: list[PlannedJob]) -> None:
        if self.dry_run or not todo:
            return
        from tqdm import tqdm

        lines = self.progress and not sys.stderr.isatty()
        bar = tqdm(total=len(todo), desc=f"{run.stage:<10}", unit="job", disable=not self.progress or lines,
                   file=sys.stderr)
        stage = _StageProgress(run, len(todo), labels(self.grid.jobs[run.stage]), bar, lines)
        try:
            busy: list[str] = []
            for group in pack_groups(todo, self.grid.resources(run.stage).pack):
                busy += self._pack(stage, [e.id for e in group], wait_busy=False)
            self._pack(stage, busy, wait_busy=True)  # what other processes held: waited for at the stage's end
        finally:
            bar.close()

    def _pack(self, stage: _StageProgress, job_ids: list[str], *, wait_busy: bool) -> list[str]:
        """Run one pack, counting each job as it ends; the busy jobs (not waited for) are returned."""
        busy = []
        for outcome in run_pack(self.paths.root, stage.run.stage, job_ids,
                                lambda j: self._log_file(stage.run.stage, j), lambda j: stage.names.get(j, j),
                                wait_busy=wait_busy):
            if outcome.busy:
                busy.append(outcome.job_id)
            else:
                self._count(stage.run, outcome, stage.bar)
                stage.finished(outcome)
        if job_ids:
            release_memory()  # in-process jobs share one TF runtime: a fresh Keras session per pack
        return busy

    def _log_file(self, stage: str, job_id: str) -> Path | None:
        return None if self.stop_at_error else self.paths.job_log(stage, job_id)  # debug: all on screen

    def _count(self, run: StageRun, outcome: Outcome, bar: Any) -> None:
        bar.update(1)
        if outcome.error is not None:
            if self.stop_at_error:
                bar.close()
                traceback.print_exception(outcome.error)
                raise outcome.error
            run.failures.append((outcome.job_id, error_reason(self.paths, outcome.job_id)))
        elif outcome.ran:
            run.succeeded += 1
        else:  # another process finished it while this one waited
            run.elsewhere += 1
            run.submitted -= 1
        bar.set_postfix(failed=len(run.failures))


@dataclass
class _StageProgress:
    """One stage's in-process run: its counts, labels, bar, and one line per finished job where stderr is no
    terminal (runner.joblog)."""

    run: StageRun
    total: int
    names: dict[str, str]
    bar: Any
    lines: bool
    done: int = 0

    def finished(self, outcome: Outcome) -> None:
        self.done += 1
        if not self.lines:
            return
        failed = dict(self.run.failures).get(outcome.job_id)
        label = f"{self.names.get(outcome.job_id, '')} [{outcome.job_id}]"
        print(joblog.line(self.run.stage, self.done, self.total, label, f"FAILED: {failed}" if failed else "ok",
                          outcome.seconds), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- slurm


class SlurmArrays:
    """The Slurm executor: a stage's packs as array tasks, `afterany` the arrays of the stages it needs."""

    def __init__(self, grid: Grid, paths: RunPaths, *, dry_run: bool, echo: Callable[[str], None]) -> None:
        from . import slurm

        self.grid, self.paths, self.dry_run, self.echo = grid, paths, dry_run, echo
        self.profile = load_profile(grid.settings.profile)
        self.max_n = slurm.max_array_size(self.profile)
        self.binds = _bind_paths(grid, paths)
        container = grid.settings.container
        if container is not None and not dry_run:  # before anything is submitted
            check_binds(_needed_paths(grid, paths), [*map(str, self.binds), *container.binds], container.binds)
        self.arrays_of: dict[str, list[str]] = {}  # stage -> Slurm arrays its jobs run in (new and still queued)
        self.active: dict[str, dict[str, str]] = {}

    def session(self) -> AbstractContextManager[None]:
        # One submitter at a time per run: the second reads the first one's submitted.json and skips its tasks.
        return contextlib.nullcontext() if self.dry_run else _submit_lock(self.paths, self.echo)

    def held(self, stage: str) -> dict[str, str]:
        self.active[stage] = {} if self.dry_run else _active_tasks(self.paths, stage)
        return self.active[stage]

    def launch(self, stage: str) -> Any:
        from .slurm import SlurmLaunch

        return SlurmLaunch(self.paths.logs(stage), self.grid.resources(stage), self.profile,
                           self.grid.settings.container, f"{self.grid.name}-{stage}", self.binds)

    def run(self, run: StageRun, todo: list[PlannedJob]) -> None:
        from . import slurm

        # Wait only for the stages this stage's jobs read from (e.g. the studies and tune need features, not
        # each other), so independent stages share the cluster instead of queueing behind one another.
        arrays = sorted({a for s in needs(run.stage) for a in self.arrays_of.get(s, [])})
        dependency = f"afterany:{':'.join(arrays)}" if arrays else None
        if self.dry_run:
            self._dry_run(run.stage, todo, dependency)
            return
        if todo:
            executor = slurm.make_executor(self.launch(run.stage), dependency=dependency)
            size = self.grid.resources(run.stage).pack
            ids, run.slurm_ids = submit_packs(executor, self.paths, run.stage, todo, size, self.max_n)
            record_submitted(self.paths, run.stage, ids)
        waits = sorted({t.split("_")[0] for t in self.active.get(run.stage, {}).values()})
        self.arrays_of[run.stage] = run.slurm_ids + waits

    def _dry_run(self, stage: str, todo: list[PlannedJob], dependency: str | None) -> None:
        from . import slurm

        if not todo:
            return
        pack = self.grid.resources(stage).pack
        tasks = -(-len(todo) // pack)
        chunks = (tasks + self.max_n - 1) // self.max_n
        packed = f" in {tasks} packed tasks of up to {pack}" if pack > 1 else ""
        self.echo(f"# {stage}: {len(todo)} jobs{packed} in {chunks} array(s) of at most {self.max_n}")
        self.echo(slurm.sbatch_script(self.launch(stage), map_count=min(tasks, self.max_n), dependency=dependency))


@contextlib.contextmanager
def _submit_lock(paths: RunPaths, echo: Callable[[str], None]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(paths.submit_lock, what=f"submitting into {paths.root}"))
        except JobBusy as exc:
            echo(f"waiting: {exc}")
            stack.enter_context(locked(paths.submit_lock, wait=True))
        yield


def _bind_paths(grid: Grid, paths: RunPaths) -> list[Path]:
    """What a containerised job must see at the same absolute path: run folder, cache, corpus roots."""
    roots = sorted({p.absolute() for key, p in _needed_paths(grid, paths).items() if key.startswith("corpora")})
    return [paths.root, cache_dir(grid, paths), *roots]


def _needed_paths(grid: Grid, paths: RunPaths) -> dict[str, Path]:
    """The same paths by the grid key they come from, for check_binds' error messages."""
    corpora = grid.raw.get("corpora") or []
    roots = {f"corpora[{i}].root": Path(c["root"]) for i, c in enumerate(corpora)
             if isinstance(c, dict) and c.get("root")}
    return {"output": paths.root, "cache": cache_dir(grid, paths), **roots}


def _active_tasks(paths: RunPaths, stage: str) -> dict[str, str]:
    """Jobs of an earlier submission that Slurm still has queued or running: {job id: slurm task id}."""
    jobs = read_submitted(paths, stage).get("jobs", {})
    if not jobs:
        return {}
    from .slurm import sacct_states, squeue_tasks

    found = sacct_states(jobs.values())
    queued = squeue_tasks(jobs.values())  # sacct lags a fresh submission by seconds; the controller does not
    return {jid: task for jid, task in jobs.items() if found.get(task) in ACTIVE or task in queued}
