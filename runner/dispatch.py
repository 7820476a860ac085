"""`submit(grid, ...)`: plan the run folder, then hand each selected stage's missing jobs to an executor.

The executors (local, debug, slurm) live in `runner.executors` behind one protocol; this module decides what
runs: which stages, which jobs are missing, failed or redone on purpose (runner.redo), which another submission
still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sercore.errors import ConfigError

from . import extend, runfolder
from .executors import Executor, cache_dir, executor_for
from .grid import Grid
from .paths import RunPaths
from .plan import StageRun, StageState, states, write_plan
from .planned import PlannedJob
from .redo import apply_redo, previous_plan, select_redo, todo_reasons
from .submitted import read_submitted

__all__ = ["EXECUTORS", "cache_dir", "read_submitted", "select_stages", "submit"]

EXECUTORS = ("local", "debug", "slurm")


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
    name = executor or grid.settings.executor
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name}: unknown executor (expected one of {', '.join(EXECUTORS)})")
    chosen = select_stages(grid, stages)
    _check_force(force, chosen, grid)
    paths = RunPaths(grid.output)
    plan = {s: grid.jobs[s] for s in grid.stages}
    previous = previous_plan(paths, {s: [e.id for e in v] for s, v in plan.items()})
    _prepare_folder(grid, paths, dry_run=dry_run, replace_grid=replace_grid, echo=echo)
    runner = executor_for(name, grid, paths, dry_run=dry_run, progress=progress, echo=echo)
    with runner.session():
        st = states(paths, plan, repair=not dry_run)
        redo = select_redo(paths, {s: plan[s] for s in chosen}, st, force=force, rerun_stale=rerun_stale)
        apply_redo(paths, st, redo, dry_run=dry_run)
        return [_stage(runner, paths, plan[s], st[s], previous.get(s, {})) for s in chosen]


def _prepare_folder(grid: Grid, paths: RunPaths, *, dry_run: bool, replace_grid: bool,
                    echo: Callable[[str], None]) -> None:
    """Check the run folder (dry run) or write its plan; a grid that only adds jobs extends the run."""
    extension = None if replace_grid else extend.admit(grid, paths, dry_run=dry_run, echo=echo)
    if dry_run:
        runfolder.check(grid, paths, replace=replace_grid or extension is not None)
    else:
        write_plan(grid, paths, cache_dir(grid, paths), replace=replace_grid, extend=extension is not None)
        if extension is not None:
            extend.retire(paths, extension)


def _stage(runner: Executor, paths: RunPaths, entries: list[PlannedJob], st: StageState,
           previous: dict[str, PlannedJob]) -> StageRun:
    """One stage: what is missing, less what another submission still runs, handed to the executor."""
    missing = [e for e in entries if e.id not in st.done]
    held = runner.held(st.stage)
    todo = [e for e in missing if e.id not in held]
    run = StageRun(st.stage, st.total, len(st.done), submitted=len(todo), held=len(missing) - len(todo),
                   todo=todo_reasons(paths, todo, st, previous))
    runner.run(run, todo)
    return run


def _check_force(force: Sequence[str], chosen: list[str], grid: Grid) -> None:
    for stage in force:
        if stage not in chosen:
            where = "not among the --stage stages" if stage in grid.stages else f"not a stage of {grid.source}"
            raise ConfigError(f"--force {stage}: {where} (expected one of {', '.join(chosen)})")
