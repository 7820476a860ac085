"""Case 4: two submits of one grid into one run, started together as real processes: every job runs exactly
once (lock-file attempt counts, each train job's history), the second submit says what the first held; on
Slurm, tasks another submission queued are not submitted again, and submitters take turns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from runner import slurm
from runner.dispatch import submit
from runner.grid import load_grid
from runner.locks import attempts, locked
from runner.paths import RunPaths
from runner.plan import read_plan
from runner.submitted import read_submitted

from .conftest import tiny_grid

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_local_submits_run_each_job_once(tmp_path: Path, cache_dir: Path) -> None:
    stages = {"features": {}, "train": {"model": {"width": 0.125, "lstm_units": 4}, "train": {"epochs": 2}}}
    grid_file = tiny_grid(tmp_path, tmp_path / "run", cache_dir, stages=stages)
    grid = load_grid(grid_file)
    features, train = grid.jobs["features"][0].id, grid.jobs["train"][0].id
    # Each job sleeps 3 s before its work, so whichever process takes it, the other one finds it held. (Before
    # the locks both trained this model, appending to one history.partial.csv.) Only one process loads TF.
    env = {**os.environ, "SERTACK_FAULT_INJECT": f"{features}:sleep=3,{train}:sleep=3", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "runner", "submit", str(grid_file), "--executor", "local", "--no-progress"]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    paths = RunPaths(tmp_path / "run")
    plan = read_plan(paths)
    # Evidence 1: each job's lock file counts the times it was started: once.
    assert {e.id: attempts(paths.lock(s, e.id)) for s, es in plan.items() for e in es} == \
        {e.id: 1 for es in plan.values() for e in es}
    # Evidence 2: together the two processes ran every job once, and one of them said it waited for the other.
    ran = {s: 0 for s in plan}
    for out, _ in outs:
        for stage, n in re.findall(r"^(\w+) +\d+ jobs, \d+ already done, ran (\d+)", out, re.M):
            ran[stage] += int(n)
    assert ran == {s: len(es) for s, es in plan.items()}
    assert any("run by another process meanwhile" in out for out, _ in outs)
    assert any("being run by another process; waiting" in err for _, err in outs)
    # Evidence 3: one writer per history: epochs 0..n-1 once each, matching the shard's epochs_run.
    for e in plan["train"]:
        hist = pd.read_csv(paths.artefacts("train", e.id) / "history.csv")
        row = pd.read_parquet(paths.shard("train", e.id)).iloc[0]
        assert hist.epoch.tolist() == list(range(len(hist))) and int(row.epochs_run) == len(hist) <= 2
        assert 1 <= int(row.best_epoch) <= int(row.epochs_run)
    assert not paths.error_dir.exists() or not any(paths.error_dir.iterdir())


def test_slurm_skips_tasks_the_controller_has_queued_before_sacct_knows(make_grid, monkeypatch) -> None:
    arrays: list[list[str]] = []

    class Ex:
        def map_array(self, fn, dirs, stages, ids):
            arrays.append(list(ids))
            n = len(arrays) + 100
            return [type("J", (), {"job_id": f"{n}_{i}"})() for i in range(len(ids))]

    monkeypatch.setattr(slurm, "make_executor", lambda *a, **k: Ex())
    monkeypatch.setattr(slurm, "max_array_size", lambda profile=None: 1000)
    monkeypatch.setattr(slurm, "sacct_states", lambda ids: {})  # sacct lags: it knows no task yet
    grid = load_grid(make_grid(stages={"features": {}, "train": {"model": {"width": 0.25}}}))
    submit(grid, executor="slurm", progress=False)
    first = [list(a) for a in arrays]
    tasks = {t for s in ("features", "train") for t in read_submitted(RunPaths(grid.output), s)["jobs"].values()}
    monkeypatch.setattr(slurm, "squeue_tasks", lambda ids: set(tasks))  # ...but the controller has them
    runs = submit(grid, executor="slurm", progress=False)
    assert arrays == first  # nothing submitted twice
    assert [(r.stage, r.submitted, r.held) for r in runs] == [("features", 0, 1), ("train", 0, 4)]


def test_slurm_submitters_take_turns(make_grid, monkeypatch) -> None:
    monkeypatch.setattr(slurm, "max_array_size", lambda profile=None: 1000)
    monkeypatch.setattr(slurm, "make_executor", lambda *a, **k: type("E", (), {"map_array": lambda s, f, *its: [
        type("J", (), {"job_id": f"7_{i}"})() for i in range(len(its[0]))]})())
    monkeypatch.setattr(slurm, "sacct_states", lambda ids: {})
    grid = load_grid(make_grid(stages={"features": {}}))
    paths = RunPaths(grid.output)
    submit(grid, executor="slurm", echo=lambda _: None)  # the run exists
    said: list[str] = []
    done = threading.Event()
    with locked(paths.submit_lock):  # another submitter is busy submitting into this run
        worker = threading.Thread(target=lambda: (submit(grid, executor="slurm", echo=said.append), done.set()))
        worker.start()
        time.sleep(1.0)
        assert not done.is_set() and said
        assert said[0].startswith(f"waiting: submitting into {paths.root} is held by pid")
    worker.join(timeout=30)
    assert done.is_set()


@pytest.mark.slurm
def test_two_slurm_submits_queue_each_job_once(tmp_path: Path, cache_dir: Path) -> None:
    """On the dev cluster: two `submit --executor slurm` started together queue one task per job in all."""
    name = f"rel11-{os.getpid()}"
    grid_file = tiny_grid(tmp_path, tmp_path / "run", cache_dir, name=name, stages={"features": {}})
    cmd = [sys.executable, "-m", "runner", "submit", str(grid_file), "--executor", "slurm"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    paths = RunPaths(tmp_path / "run")
    try:
        assert [p.returncode for p in procs] == [0, 0], outs
        job = load_grid(grid_file).jobs["features"][0].id
        task = read_submitted(paths, "features")["jobs"][job]
        names = subprocess.run(["sacct", "-X", "-n", "-P", "--name", f"{name}-features", "-o", "JobID",
                                "--starttime", "now-1hour"], capture_output=True, text=True)
        queued = subprocess.run(["squeue", "-h", "-r", "-n", f"{name}-features", "-o", "%i"], capture_output=True,
                                text=True)
        arrays = {t.split("_")[0] for t in (names.stdout + queued.stdout).split()}
        assert arrays == {task.split("_")[0]}, (arrays, outs)  # one array in all
        lines = [line for out, _ in outs for line in out.splitlines() if line.startswith("features")]
        assert sum("submitted 1 " in line for line in lines) == 1, outs
        # The other submit saw the task queued (or, on a fast cluster, already finished): submitted nothing.
        assert sum("submitted 0" in line and ("1 still queued/running" in line or "1 already done" in line)
                   for line in lines) == 1, outs
    finally:
        for array in read_submitted(paths, "features").get("arrays", []):
            subprocess.run(["scancel", array], capture_output=True)
