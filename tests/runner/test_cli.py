"""`python -m runner`: plan/status --json shapes, one-line errors with exit 2, submit output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runner import slurm
from runner.cli import main
from runner.grid import load_grid
from runner.paths import RunPaths


def test_plan_json_counts(make_grid, capsys) -> None:
    path = make_grid()
    assert main(["plan", str(path), "--json", "--set", "seeds=[0]"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["features", "tune", "norm_study", "arch_study", "train", "attack"]
    assert out["train"] == {"total": 2, "done": 0, "failed": 0, "pending": 2, "stale": 0}


def test_submit_local_then_status(make_grid, fake_jobs, capsys, monkeypatch) -> None:
    path = make_grid()
    grid = load_grid(path)
    bad = grid.jobs["norm_study"][0].id
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{bad}:raise")
    assert main(["submit", str(path), "--executor", "local", "--no-progress"]) == 1
    out = capsys.readouterr().out
    label = "norm_study synthetic paper seed 0 m0 w0.25 original standardize=off"
    assert f"{label} [{bad}]: RuntimeError: fault injected" in out and "1 failed job(s)" in out
    run = RunPaths(grid.output).root
    assert main(["status", str(run), "--json"]) == 1  # failed jobs: non-zero
    status = json.loads(capsys.readouterr().out)
    assert status["norm_study"]["failed"] == 1 and status["norm_study"]["failures"][bad].startswith("RuntimeError")
    assert status["train"] == {"total": 4, "done": 4, "pending": 0, "running": 0, "failed": 0, "failures": {},
                               "unplanned": [], "stale": 0, "labels": {}}
    assert status["norm_study"]["labels"] == {bad: label}
    assert main(["plan", str(path), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["norm_study"]["done"] == plan["norm_study"]["total"] - 1
    monkeypatch.delenv("SERTACK_FAULT_INJECT")
    assert main(["submit", str(path), "--no-progress"]) == 0
    assert "ran 1, 1 ok, 0 failed; why: 1 failed" in capsys.readouterr().out


def test_status_counts_running_from_sacct(make_grid, fake_jobs, capsys, monkeypatch) -> None:
    path = make_grid(stages={"features": {}, "train": {"model": {"width": 0.25}}})
    grid = load_grid(path)
    monkeypatch.setattr(slurm, "make_executor", _fake_executor)
    monkeypatch.setattr(slurm, "max_array_size", lambda profile=None: 1000)
    assert main(["submit", str(path), "--executor", "slurm"]) == 0
    out = capsys.readouterr().out
    assert "Slurm arrays" in out
    train = [j.id for j in grid.jobs["train"]]
    submitted = json.loads(RunPaths(grid.output).submitted("train").read_text())["jobs"]
    states = {submitted[train[0]]: "RUNNING", submitted[train[1]]: "TIMEOUT", submitted[train[2]]: "PENDING"}
    monkeypatch.setattr(slurm, "sacct_states", lambda ids: states)
    assert main(["status", str(grid.output), "--json"]) == 1  # the TIMEOUT counts as failed
    st = json.loads(capsys.readouterr().out)["train"]
    assert (st["running"], st["pending"], st["failed"], st["done"]) == (1, 2, 1, 0)
    assert st["failures"][train[1]].startswith("Slurm TIMEOUT")


def _fake_executor(folder, resources, profile, container, job_name, bind_paths=(), *, dependency=None, **kw):
    class Ex:
        n = 0

        def map_array(self, fn, *its):
            Ex.n += 1
            return [type("J", (), {"job_id": f"{Ex.n}_{i}"})() for i in range(len(its[0]))]

    return Ex()


def test_user_errors_are_one_line_exit_2(make_grid, tmp_path: Path) -> None:
    bad = make_grid(executor="lokal", seedz=[1])
    done = subprocess.run([sys.executable, "-m", "runner", "plan", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {bad}: ") for line in lines)
    done = subprocess.run([sys.executable, "-m", "runner", "status", str(tmp_path / "nothing")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1


def test_dry_run_slurm_prints_sbatch(make_grid, capsys, monkeypatch) -> None:
    monkeypatch.setattr(slurm, "max_array_size", lambda profile=None: 3)
    path = make_grid(resources={"attack": {"gpus": 1, "partition": "gpu"}})
    assert main(["submit", str(path), "--executor", "slurm", "--dry-run", "--stage", "attack"]) == 0
    out = capsys.readouterr().out
    assert "# attack: 16 jobs in 6 array(s) of at most 3" in out
    assert "#SBATCH --array=0-2%3" in out and "#SBATCH --gpus-per-task=1" in out and "#SBATCH --partition=gpu" in out


def test_debug_failure_exits_1_after_the_traceback(make_grid, fake_jobs, capsys, monkeypatch) -> None:
    path = make_grid()
    bad = load_grid(path).jobs["features"][0].id
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{bad}:raise")
    assert main(["submit", str(path), "--executor", "debug", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "stopped at the first failure" in err
