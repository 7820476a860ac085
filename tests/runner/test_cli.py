"""`sertack` / `python -m runner`: plan/status --json shapes, one-line errors with exit 2, submit output, job labels
and reasons, status times, remaining estimate, code provenance (--rerun-stale, --force), local job logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd

from runner import slurm
from runner.cli import main
from runner.grid import load_grid
from runner.paths import RunPaths
from runner.provenance import code_hash


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
    assert "ran 1, 1 ok, 0 failed\n           why: 1 failed\n" in capsys.readouterr().out


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


# ---------------------------------------------------------------- issue 22: a command line like Snakemake's

SMALL = {"name": "s", "seeds": [0], "protocols": ["paper"],
         "corpora": [{"name": "synthetic", "synthetic_per_class": 2}],
         "stages": {"features": {}, "train": {"model": {"width": 0.25}, "train": {"epochs": 1}},
                    "attack": {"limit": 2, "chunk_size": 2, "attacks": {"fgsm": {"eps": [0.25, 1.0]}}}}}
TRAIN = "train synthetic paper seed 0 final w0.25"
FGSM = "attack synthetic paper seed 0 fgsm eps={}"


def test_sertack_console_script(make_grid) -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'sertack = "runner.cli:console"' in pyproject and 'license = "MIT"' in pyproject
    code = f"import sys; sys.argv = ['sertack', 'plan', {str(make_grid(SMALL))!r}, '--json']; " \
           "from runner.cli import console; console()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["attack"]["pending"] == 2
    done = subprocess.run([sys.executable, "-c", code.replace("'--json'", "'--bad'")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: sertack ")


def test_profile_flag_reaches_the_sbatch_text(make_grid, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(slurm, "max_array_size", lambda profile=None: 100)
    profile = tmp_path / "site.yaml"
    profile.write_text("setup: ['module load apptainer/1.3']\nsbatch: {reservation: ours}\n")
    path = str(make_grid(SMALL))
    assert main(["submit", path, "--executor", "slurm", "--dry-run", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "module load apptainer/1.3" in out and "#SBATCH --reservation=ours" in out
    profile.write_text("setpu: []\n")
    assert main(["submit", path, "--executor", "slurm", "--dry-run", "--profile", str(profile)]) == 2
    assert f"error: {path}: profile: {profile}" in capsys.readouterr().err


def test_dry_run_lists_each_job_with_its_reason(make_grid, fake_jobs, capsys, monkeypatch) -> None:
    path = make_grid(SMALL)
    grid = load_grid(path)
    a1, a2 = (j.id for j in grid.jobs["attack"])
    assert main(["submit", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"  {FGSM.format(0.25)} [{a1}]: new" in out and f"  {TRAIN} [{grid.jobs['train'][0].id}]: new" in out
    assert "attack          2 jobs, 0 already done, would submit 2\n           why: 2 new\n" in out
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{a1}:raise")
    assert main(["submit", str(path), "--no-progress"]) == 1
    capsys.readouterr()
    RunPaths(grid.output).shard("attack", a2).write_bytes(b"not parquet")
    assert main(["submit", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{FGSM.format(0.25)} [{a1}]: failed: RuntimeError: fault injected" in out
    assert f"{FGSM.format(1.0)} [{a2}]: corrupt: CorruptShard: " in out
    assert "\n           why: 1 failed, 1 corrupt\n" in out
    # another training length: the model and the attacks on it run again, and the dry run says which key changed
    longer = make_grid(SMALL, stages__train__train__epochs=2)
    assert main(["submit", str(longer), "--dry-run", "--replace-grid", "--stage", "train", "--stage", "attack"]) == 0
    out = capsys.readouterr().out
    assert f"{TRAIN} [{load_grid(longer).jobs['train'][0].id}]: parameters changed: train.epochs 1 -> 2" in out
    assert out.count("parameters changed: target.train.epochs 1 -> 2") == 2


def test_status_times_report_and_exit_code(make_grid, fake_jobs, capsys, monkeypatch) -> None:
    path = make_grid(SMALL)
    grid = load_grid(path)
    bad = grid.jobs["attack"][1].id
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{bad}:raise")
    assert main(["submit", str(path), "--no-progress"]) == 1
    capsys.readouterr()
    run = RunPaths(grid.output)
    chunks = run.artefacts("attack", bad) / "chunks"
    chunks.mkdir(parents=True)
    (chunks / "chunk-00000.parquet").write_bytes(b"")  # how far an interrupted attack got
    assert main(["status", str(run.root)]) == 1
    out = capsys.readouterr().out
    assert f"  {FGSM.format(1.0)} [{bad}]: RuntimeError: fault injected" in out
    assert f"1 unfinished attack job(s) with persisted chunks:\n  {FGSM.format(1.0)} [{bad}]: 1/1 chunks" in out
    assert "since the first submit; throughput: " in out and " jobs/h; time left: " in out
    assert f"report: none yet (python -m runner reduce {run.root})" in out
    index = run.report_dir / "index.html"
    index.parent.mkdir()
    index.write_text("<html></html>")
    os.utime(index, (1, 1))  # older than every shard
    assert main(["status", str(run.root)]) == 1
    assert f"report: {index} (stale: 3 shard(s) finished after it" in capsys.readouterr().out
    monkeypatch.delenv("SERTACK_FAULT_INJECT")
    assert main(["submit", str(path), "--no-progress"]) == 0
    index.touch()
    capsys.readouterr()
    assert main(["status", str(run.root)]) == 0
    out = capsys.readouterr().out
    assert f"report: {index} (up to date)" in out and "time left: done" in out
    assert "job traces (runner.trace):\n  features: latest 1 job(s): wall time median " in out
    assert "  attack: latest 2 job(s): wall time median " in out and " MiB; on " in out


def test_plan_estimate_shows_remaining_and_all(make_grid, fake_jobs, capsys) -> None:
    path = str(make_grid(SMALL))
    assert main(["submit", path, "--no-progress", "--stage", "features", "--stage", "train"]) == 0
    capsys.readouterr()
    assert main(["plan", path, "--estimate", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total"]["jobs"] == 4 and d["remaining"]["total"]["jobs"] == 2
    assert d["remaining"]["stages"]["train"]["worker_s"] == 0 < d["stages"]["train"]["worker_s"]
    assert 0 < d["remaining"]["total"]["worker_hours"] < d["total"]["worker_hours"]
    assert main(["plan", path, "--estimate"]) == 0
    out = capsys.readouterr().out
    assert "s: 2 of 4 jobs left" in out and "\ntrain              0/1" in out and "\nattack             2/2" in out
    assert "\nremaining            2" in out and "\ntotal                4" in out


def _set_code(shard: Path, code: str) -> None:
    df = pd.read_parquet(shard)
    df["code_hash"] = code
    df.to_parquet(shard, index=False)


def test_rerun_stale_and_force_redo_jobs_and_their_dependants(make_grid, fake_jobs, capsys) -> None:
    path = str(make_grid(SMALL))
    grid = load_grid(path)
    run = RunPaths(grid.output)
    train = grid.jobs["train"][0].id
    assert main(["submit", path, "--no-progress"]) == 0
    assert set(pd.read_parquet(run.shard("train", train)).code_hash) == {code_hash()}
    _set_code(run.shard("train", train), "0123456789abcdef")
    capsys.readouterr()
    assert main(["status", str(run.root), "--json"]) == 0
    assert [v["stale"] for v in json.loads(capsys.readouterr().out).values()] == [0, 1, 0]
    assert main(["plan", path]) == 0
    assert "1 finished job(s) were made by other code than this one" in capsys.readouterr().out
    assert main(["submit", path, "--dry-run", "--rerun-stale"]) == 0
    out = capsys.readouterr().out
    assert f"{TRAIN} [{train}]: code changed (shard made by code 0123456789abcdef)" in out
    assert out.count(f": upstream redone (train {train})") == 2
    fake_jobs.clear()
    assert main(["submit", path, "--no-progress", "--rerun-stale"]) == 0
    capsys.readouterr()
    assert sorted(fake_jobs) == sorted([train, *(j.id for j in grid.jobs["attack"])])
    moved = [p for p in run.superseded("train").iterdir() if not p.name.endswith(".reason.txt")]
    assert sorted((p.is_dir(), p.suffix == ".parquet") for p in moved) == [(False, True), (True, False)]
    assert all(p.name.startswith(f"{train}.") for p in moved) and (run.artefacts("train", train) / "done.txt").exists()
    assert main(["plan", path, "--json"]) == 0 and json.loads(capsys.readouterr().out)["train"]["stale"] == 0
    fake_jobs.clear()
    assert main(["submit", path, "--no-progress", "--force", "features"]) == 0
    assert len(fake_jobs) == 4 and "\n           why: 1 forced\n" in capsys.readouterr().out
    assert main(["submit", path, "--stage", "attack", "--force", "train"]) == 2
    assert "error: --force train: not among the --stage stages" in capsys.readouterr().err


def test_local_executor_logs_each_job_and_prints_lines(make_grid, fake_jobs, capsys, monkeypatch) -> None:
    path = make_grid(SMALL)
    grid = load_grid(path)
    bad = grid.jobs["attack"][0].id
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{bad}:raise")
    assert main(["submit", str(path)]) == 1  # progress on, but stderr is not a terminal here: lines, no bar
    err = capsys.readouterr().err
    assert "\r" not in err and f"train [1/1] {TRAIN} [{grid.jobs['train'][0].id}]: ok (" in err
    assert f"attack [1/2] {FGSM.format(0.25)} [{bad}]: FAILED: RuntimeError: fault injected" in err
    run = RunPaths(grid.output)
    ok_log = run.job_log("train", grid.jobs["train"][0].id).read_text()
    assert ok_log.startswith(f"== {TRAIN} [") and "== ok after " in ok_log
    bad_log = run.job_log("attack", bad).read_text()
    assert "Traceback (most recent call last)" in bad_log and "== failed after " in bad_log


def test_quiet_cpu_host(monkeypatch) -> None:
    from runner import quiet

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(quiet, "has_nvidia_driver", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet.quiet()
        warnings.warn("PyTorch not found. Not importing DeepZ", UserWarning, stacklevel=1)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" and not caught
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet.quiet()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0", "the user's level wins"
