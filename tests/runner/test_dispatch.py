"""Executors: local keeps going and reruns only what is missing; debug stops; slurm arrays, chunks, dependencies."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runner import slurm
from runner.dispatch import submit
from runner.grid import load_grid
from runner.locks import locked
from runner.pack import PackWorker
from runner.paths import RunPaths
from runner.plan import read_plan, states
from runner.resources import Resources
from runner.submitted import read_submitted


def test_local_runs_every_stage_then_nothing(make_grid, fake_jobs) -> None:
    grid = load_grid(make_grid())
    runs = submit(grid, executor="local", progress=False)
    assert [r.stage for r in runs] == grid.stages
    assert all(r.succeeded == r.total == r.submitted and not r.failures for r in runs)
    paths = RunPaths(grid.output)
    assert all(len(s.done) == s.total for s in states(paths, read_plan(paths)).values())
    n = len(fake_jobs)
    again = submit(grid, executor="local", progress=False)
    assert all(r.submitted == 0 and r.already_done == r.total for r in again)
    assert len(fake_jobs) == n


def test_local_keeps_going_and_rerun_redoes_only_failures(make_grid, fake_jobs, monkeypatch) -> None:
    grid = load_grid(make_grid())
    bad_train = grid.jobs["train"][0].id
    bad_tune = grid.jobs["tune"][1].id
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{bad_train}:raise,{bad_tune}:raise")
    runs = {r.stage: r for r in submit(grid, executor="local", progress=False)}
    assert [j for j, _ in runs["tune"].failures] == [bad_tune]
    assert [j for j, _ in runs["train"].failures] == [bad_train]
    dependants = {j.id for j in grid.jobs["attack"] if j.upstream == bad_train}
    assert {j for j, _ in runs["attack"].failures} == dependants
    assert all(why.startswith(f"JobError: upstream train job {bad_train}") for _, why in runs["attack"].failures)
    assert runs["norm_study"].succeeded == runs["norm_study"].total  # other stages unaffected
    monkeypatch.delenv("SERTACK_FAULT_INJECT")
    before = len(fake_jobs)
    rerun = {r.stage: r for r in submit(grid, executor="local", progress=False)}
    submitted = {s: r.submitted for s, r in rerun.items() if r.submitted}
    assert submitted == {"tune": 1, "train": 1, "attack": len(dependants)}
    assert len(fake_jobs) - before == 2 + len(dependants)
    assert all(not r.failures for r in rerun.values())


def test_debug_stops_at_first_error(make_grid, fake_jobs, monkeypatch) -> None:
    grid = load_grid(make_grid())
    bad = grid.jobs["tune"][0].id
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{bad}:raise")
    with pytest.raises(RuntimeError, match="fault injected"):
        submit(grid, executor="debug", progress=False)
    assert len(fake_jobs) == len(grid.jobs["features"])  # nothing after the failing tune job ran


def test_stage_selection(make_grid, fake_jobs) -> None:
    grid = load_grid(make_grid())
    runs = submit(grid, executor="local", stages=["features"], progress=False)
    assert [r.stage for r in runs] == ["features"] and len(fake_jobs) == 1
    with pytest.raises(Exception, match="--stage trian: not a stage"):
        submit(grid, executor="local", stages=["trian"], progress=False)


def test_dry_run_writes_nothing(make_grid, fake_jobs) -> None:
    grid = load_grid(make_grid())
    runs = submit(grid, executor="local", dry_run=True, progress=False)
    assert sum(r.submitted for r in runs) == grid.count() and not fake_jobs
    assert not RunPaths(grid.output).root.exists()


class FakeJob:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


class FakeExecutor:
    """Records what dispatch asks submitit for; hands out array ids 100, 101, ..."""

    made: list[dict[str, Any]] = []
    next_id = 100

    def __init__(self, folder: Path, resources: Resources, job_name: str, dependency: str | None) -> None:
        self.info = {"folder": folder, "resources": resources, "name": job_name, "dependency": dependency, "arrays": []}
        FakeExecutor.made.append(self.info)

    def map_array(self, fn, *iterables):
        assert isinstance(fn, PackWorker)  # every task is a pack (of one job here)
        array = str(FakeExecutor.next_id)
        FakeExecutor.next_id += 1
        rows = list(zip(*iterables, strict=False))
        self.info["arrays"].append((array, rows))
        return [FakeJob(f"{array}_{i}") for i in range(len(rows))]


@pytest.fixture
def fake_slurm(monkeypatch):
    FakeExecutor.made, FakeExecutor.next_id = [], 100

    def make_executor(launch, *, dependency=None, **kw):
        return FakeExecutor(launch.folder, launch.resources, launch.job_name, dependency)

    monkeypatch.setattr(slurm, "make_executor", make_executor)
    monkeypatch.setattr(slurm, "max_array_size", lambda profile=None: 5)
    monkeypatch.setattr(slurm, "sacct_states", lambda ids: {})
    # the fake task ids are not the real controller's: a real squeue could match its own jobs (or, with the dev
    # cluster's controller down, retry for ~10 s a call)
    monkeypatch.setattr(slurm, "squeue_tasks", lambda ids: set())
    return FakeExecutor


def test_slurm_one_array_per_stage_chunked_with_dependencies(make_grid, fake_slurm) -> None:
    grid = load_grid(make_grid(resources={"default": {"cpus": 2}, "attack": {"gpus": 1}}))
    runs = submit(grid, executor="slurm", progress=False)
    made = {m["name"]: m for m in fake_slurm.made}
    assert list(made) == [f"t-{s}" for s in grid.stages]  # one executor per stage, in order
    for stage in grid.stages:
        n = len(grid.jobs[stage])
        arrays = made[f"t-{stage}"]["arrays"]
        assert [len(rows) for _, rows in arrays] == [min(5, n - i) for i in range(0, n, 5)]  # chunks <= MaxArraySize
        assert [r[2] for _, rows in arrays for r in rows] == [[j.id] for j in grid.jobs[stage]]
    assert made["t-features"]["dependency"] is None

    def after(stage: str) -> str:
        return "afterany:" + ":".join(sorted(a for a, _ in made[f"t-{stage}"]["arrays"]))

    # Each stage waits only for the stages its jobs read from: model stages for features, attacks for train.
    for stage in ("tune", "norm_study", "arch_study", "train"):
        assert made[f"t-{stage}"]["dependency"] == after("features"), stage
    assert made["t-attack"]["dependency"] == after("train")
    assert made["t-attack"]["resources"].gpus == 1 and made["t-train"]["resources"].gpus == 0
    paths = RunPaths(grid.output)
    rec = read_submitted(paths, "attack")
    assert set(rec["jobs"]) == {j.id for j in grid.jobs["attack"]}
    assert rec["arrays"] == runs[-1].slurm_ids
    assert sum(len(m["arrays"]) for m in fake_slurm.made) == sum(-(-len(j) // 5) for j in grid.jobs.values())


def test_slurm_resubmit_skips_queued_tasks(make_grid, fake_slurm, monkeypatch) -> None:
    grid = load_grid(make_grid(stages={"features": {}, "train": {"model": {"width": 0.25}}}))
    submit(grid, executor="slurm", progress=False)
    train = read_submitted(RunPaths(grid.output), "train")["jobs"]
    queued = dict(list(train.items())[:2])
    monkeypatch.setattr(slurm, "sacct_states", lambda ids: {t: "PENDING" for t in queued.values()})
    fake_slurm.made.clear()
    submit(grid, executor="slurm", progress=False)
    made = {m["name"]: m for m in fake_slurm.made}
    resubmitted = [i for _, rows in made["t-train"]["arrays"] for r in rows for i in r[2]]
    assert set(resubmitted) == set(train) - set(queued)


def test_local_waits_for_a_busy_job_at_the_end_of_its_stage(make_grid, fake_jobs) -> None:
    """One busy-job policy (runner.pack): another process's job is no failure; in-process it goes last in its
    stage, so the others run first, and the stage ends only when its shard exists."""
    grid = load_grid(make_grid(stages={"features": {}, "train": {"model": {"width": 0.25}}}))
    submit(grid, executor="local", stages=["features"], progress=False)
    paths = RunPaths(grid.output)
    held = grid.jobs["train"][0].id
    taken = threading.Event()

    def other_process() -> None:
        with locked(paths.lock("train", held)):
            taken.set()
            time.sleep(0.5)

    holder = threading.Thread(target=other_process)
    holder.start()
    assert taken.wait(10)
    (run,) = submit(grid, executor="local", stages=["train"], progress=False)
    holder.join()
    assert (run.succeeded, run.failures) == (len(grid.jobs["train"]), [])
    assert fake_jobs[-1] == held  # the others ran while it was held
