"""Executors behind one call: `submit(grid, ...)` runs or submits what is not yet done, stage by stage.

    local   in this process, stages in order, a progress bar per stage; keeps going past a failed job (its
            dependants then fail fast with "upstream ... has no shard") and reports failures at the end
    debug   in this process, stops at the first failure with its full traceback (submitit's DebugExecutor
            idea, without dropping into pdb)
    slurm   one submitit array per stage, chunked to MaxArraySize, each stage `afterany` the arrays of the
            stages its jobs read from (the worker checks its inputs); submits and returns. O(stages) sbatch calls.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sercore.errors import ConfigError
from sercore.io import write_json

from . import extend, joblog, runfolder
from .container import check_binds
from .grid import Grid
from .labels import labels
from .locks import JobBusy, locked
from .paths import RunPaths
from .plan import StageRun, StageState, states, write_plan
from .planned import PlannedJob
from .redo import apply_redo, previous_plan, select_redo, todo_reasons
from .resources import load_profile
from .shards import error_reason
from .worker import Worker, execute, release_memory

log = logging.getLogger(__name__)

# Stages that read more than their plan upstream: transfer also loads the target models (train and studies).
EXTRA_NEEDS = {"transfer": {"train", "arch_study", "norm_study"}}
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "PREEMPTED"}


def cache_dir(grid: Grid, paths: RunPaths) -> Path:
    return (grid.cache or paths.cache).absolute()


def select_stages(grid: Grid, wanted: Sequence[str] | None) -> list[str]:
    if not wanted:
        return grid.stages
    bad = [s for s in wanted if s not in grid.stages]
    if bad:
        raise ConfigError(f"--stage {bad[0]}: not a stage of {grid.source} (expected one of {', '.join(grid.stages)})")
    return [s for s in grid.stages if s in wanted]


def submit(
    grid: Grid,
    *,
    executor: str | None = None,
    stages: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    replace_grid: bool = False,
    force: Sequence[str] = (),
    rerun_stale: bool = False,
) -> list[StageRun]:
    """Plan the run folder and run/submit the missing or failed jobs of the selected stages.

    The run folder must be empty, absent, a run of this grid or of a grid this one only adds jobs to
    (runner.runfolder, runner.extend; `replace_grid` archives another grid's plan instead of refusing). Invalid
    shards are set aside and redone (runner.shards); `force` (stages) and `rerun_stale` (shards made by other
    code) redo finished jobs (runner.redo)."""
    executor = executor or grid.settings.executor
    if executor not in ("local", "debug", "slurm"):
        raise ConfigError(f"--executor {executor}: unknown executor (expected one of local, debug, slurm)")
    chosen = select_stages(grid, stages)
    _check_force(force, chosen, grid)
    paths = RunPaths(grid.output)
    plan = {s: grid.jobs[s] for s in grid.stages}
    previous = previous_plan(paths, {s: [e.id for e in v] for s, v in plan.items()})
    extension = None if replace_grid else extend.admit(grid, paths, dry_run=dry_run, echo=echo)
    if dry_run:
        runfolder.check(grid, paths, replace=replace_grid or extension is not None)
    else:
        write_plan(grid, paths, cache_dir(grid, paths), replace=replace_grid, extend=extension is not None)
        if extension is not None:
            extend.retire(paths, extension)

    def current(repair: bool) -> dict[str, StageState]:
        st = states(paths, plan, repair=repair)
        redo = select_redo(paths, {s: plan[s] for s in chosen}, st, force=force, rerun_stale=rerun_stale)
        apply_redo(paths, st, redo, dry_run=dry_run)
        return st

    if executor == "slurm":
        if dry_run:
            return _slurm(grid, paths, plan, current(False), chosen, dry_run, echo, previous)
        # One submitter at a time per run: the second reads the first one's submitted.json and skips its tasks.
        with _submit_lock(paths, echo):
            return _slurm(grid, paths, plan, current(True), chosen, dry_run, echo, previous)
    st = current(not dry_run)
    runs = []
    for stage in chosen:
        todo = _todo(plan[stage], st[stage])
        run = StageRun(stage, st[stage].total, len(st[stage].done), submitted=len(todo),
                       todo=todo_reasons(paths, todo, st[stage], previous.get(stage, {})))
        runs.append(run)
        if dry_run or not todo:
            continue
        pack = grid.resources(stage).pack
        if pack > 1:  # several jobs per process (runner/pack.py)
            from .pack import in_process

            # no bar where stderr is a file (packs have no per-job lines or logs yet)
            in_process(paths, run, todo, pack, stop_at_error=executor == "debug",
                       progress=progress and sys.stderr.isatty())
            continue
        _in_process(paths, run, todo, stop_at_error=executor == "debug", progress=progress,
                    names=labels(plan[stage]))
    return runs


def _check_force(force: Sequence[str], chosen: list[str], grid: Grid) -> None:
    for stage in force:
        if stage not in chosen:
            where = "not among the --stage stages" if stage in grid.stages else f"not a stage of {grid.source}"
            raise ConfigError(f"--force {stage}: {where} (expected one of {', '.join(chosen)})")


def _todo(entries: list[PlannedJob], st: StageState) -> list[PlannedJob]:
    return [e for e in entries if e.id not in st.done]


def _in_process(paths: RunPaths, run: StageRun, todo: list[PlannedJob], *, stop_at_error: bool, progress: bool,
                names: dict[str, str]) -> None:
    """Run the jobs here, each with its log file (runner.joblog); a bar on a terminal, else a line per job."""
    from tqdm import tqdm

    lines = progress and not sys.stderr.isatty()
    bar = tqdm(todo, desc=f"{run.stage:<10}", unit="job", disable=not progress or lines, file=sys.stderr)
    busy: list[PlannedJob] = []
    for k, entry in enumerate(bar, start=1):
        start = time.monotonic()
        if not _run_entry(paths, run, entry, stop_at_error=stop_at_error, wait=False, bar=bar,
                          name=names.get(entry.id, entry.id)):
            busy.append(entry)
        elif lines:
            _finished(run, entry, k, len(todo), names, time.monotonic() - start)
    if busy:  # held by a concurrent submit: wait for them, so the next stage finds their shards
        log.warning("%s: %d job(s) are being run by another process; waiting for them", run.stage, len(busy))
        for entry in busy:
            _run_entry(paths, run, entry, stop_at_error=stop_at_error, wait=True, bar=bar,
                       name=names.get(entry.id, entry.id))


def _finished(run: StageRun, entry: PlannedJob, k: int, n: int, names: dict[str, str], seconds: float) -> None:
    failed = dict(run.failures).get(entry.id)
    outcome = f"FAILED: {failed}" if failed else "ok"
    print(joblog.line(run.stage, k, n, f"{names.get(entry.id, '')} [{entry.id}]", outcome, seconds),
          file=sys.stderr, flush=True)


def _run_entry(paths: RunPaths, run: StageRun, entry: PlannedJob, *, stop_at_error: bool, wait: bool,
               bar: Any, name: str = "") -> bool:
    """Run one job in this process; False if another process holds it (and `wait` is off)."""
    try:
        try:
            log_file = paths.job_log(run.stage, entry.id) if not stop_at_error else None  # debug: all on screen
            with joblog.job_log(log_file, f"{name} [{entry.id}]", not_run=(JobBusy,)):
                _, ran = execute(paths.root, run.stage, entry.id, wait=wait)
        except JobBusy:
            return False
        if ran:
            run.succeeded += 1
        else:
            run.elsewhere += 1
            run.submitted -= 1
    except Exception as exc:
        if stop_at_error:
            bar.close()
            traceback.print_exc()
            raise
        run.failures.append((entry.id, error_reason(paths, entry.id)))
        log.warning("%s job %s failed: %s (log: %s)", run.stage, entry.id, exc, paths.job_log(run.stage, entry.id))
    finally:
        release_memory()
    bar.set_postfix(failed=len(run.failures))
    return True


# ---------------------------------------------------------------- slurm


def _slurm(
    grid: Grid,
    paths: RunPaths,
    plan: dict[str, list[PlannedJob]],
    st: dict[str, StageState],
    chosen: list[str],
    dry_run: bool,
    echo: Callable[[str], None],
    previous: dict[str, dict[str, PlannedJob]],
) -> list[StageRun]:
    from . import slurm

    profile = load_profile(grid.settings.profile)
    max_n = slurm.max_array_size(profile)
    binds = _bind_paths(grid, paths)
    container = grid.settings.container
    if container is not None and not dry_run:  # before anything is submitted
        check_binds(_needed_paths(grid, paths), [*map(str, binds), *container.binds], container.binds)
    arrays_of: dict[str, list[str]] = {}  # stage -> Slurm arrays its jobs run in (new and still queued)
    runs = []
    for stage in chosen:
        # Wait only for the stages this stage's jobs read from (e.g. the studies and tune need features, not
        # each other), so independent stages share the cluster instead of queueing behind one another.
        needs = sorted({e.upstream_stage for e in plan[stage] if e.upstream_stage} | EXTRA_NEEDS.get(stage, set()))
        arrays = sorted({a for s in needs for a in arrays_of.get(s, [])})
        dependency = f"afterany:{':'.join(arrays)}" if arrays else None
        active = {} if dry_run else _active_tasks(paths, stage)
        missing = _todo(plan[stage], st[stage])
        todo = [e for e in missing if e.id not in active]
        run = StageRun(stage, st[stage].total, len(st[stage].done), submitted=len(todo),
                       held=len(missing) - len(todo),
                       todo=todo_reasons(paths, todo, st[stage], previous.get(stage, {})))
        runs.append(run)
        waits = sorted({t.split("_")[0] for t in active.values()})
        if dry_run:
            if todo:
                pack = grid.resources(stage).pack
                tasks = -(-len(todo) // pack)
                chunks = (tasks + max_n - 1) // max_n
                packed = f" in {tasks} packed tasks of up to {pack}" if pack > 1 else ""
                echo(f"# {stage}: {len(todo)} jobs{packed} in {chunks} array(s) of at most {max_n}")
                echo(slurm.sbatch_script(paths.logs(stage), grid.resources(stage), profile, grid.settings.container,
                                         f"{grid.name}-{stage}", binds, map_count=min(tasks, max_n),
                                         dependency=dependency))
            continue
        if todo:
            executor = slurm.make_executor(paths.logs(stage), grid.resources(stage), profile, grid.settings.container,
                                           f"{grid.name}-{stage}", binds, dependency=dependency)
            ids: dict[str, str] = {}
            if grid.resources(stage).pack > 1:  # several jobs per array task (runner/pack.py)
                from .pack import submit_packs

                ids, run.slurm_ids = submit_packs(executor, paths, stage, todo, grid.resources(stage).pack, max_n)
            for start in range(0, len(todo) if not ids else 0, max_n):
                chunk = [e.id for e in todo[start:start + max_n]]
                jobs = executor.map_array(Worker(), [str(paths.root)] * len(chunk), [stage] * len(chunk), chunk)
                ids.update({jid: job.job_id for jid, job in zip(chunk, jobs, strict=False)})
                run.slurm_ids.append(jobs[0].job_id.split("_")[0])
            _record(paths, stage, ids)
        arrays_of[stage] = run.slurm_ids + waits
    return runs


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


def _record(paths: RunPaths, stage: str, ids: dict[str, str]) -> None:
    """Merge this submission's Slurm task ids into logs/<stage>/submitted.json (latest id per job wins)."""
    previous = read_submitted(paths, stage)
    jobs = {**previous.get("jobs", {}), **ids}
    arrays = sorted({t.split("_")[0] for t in jobs.values()}, key=int)
    write_json(paths.submitted(stage), {"arrays": arrays, "jobs": jobs})


def read_submitted(paths: RunPaths, stage: str) -> dict:
    import json

    try:
        return json.loads(paths.submitted(stage).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _active_tasks(paths: RunPaths, stage: str) -> dict[str, str]:
    """Jobs of an earlier submission that Slurm still has queued or running: {job id: slurm task id}."""
    jobs = read_submitted(paths, stage).get("jobs", {})
    if not jobs:
        return {}
    from .slurm import sacct_states, squeue_tasks

    found = sacct_states(jobs.values())
    queued = squeue_tasks(jobs.values())  # sacct lags a fresh submission by seconds; the controller does not
    return {jid: task for jid, task in jobs.items() if found.get(task) in ACTIVE or task in queued}
