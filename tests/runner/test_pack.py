"""runner.pack: several jobs in one process give the same shards as one job per process, and resume job by job.

Local executor here (slow); the Slurm path (a packed array task, fault-injected, resubmitted) is marked `slurm`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runner.dispatch import submit
from runner.grid import load_grid
from runner.locks import locked
from runner.pack import PackWorker, pack_groups, run_pack
from runner.paths import RunPaths
from runner.plan import write_plan
from runner.planned import PlannedJob
from runner.worker import run_one
from tests.runner.conftest import TINY_HEAD
from tests.runner.tiny import VOLATILE

REPO = Path(__file__).resolve().parents[2]

GRID = {
    **TINY_HEAD,
    "name": "pack",
    "resources": {"default": {"mem": "2G", "time": 10}},
    "stages": {
        "features": {},
        "train": {"model": {"width": 0.125, "lstm_units": 4}, "train": {"epochs": 1}},
        "attack": {"limit": 4, "chunk_size": 2, "examples": 1,
                   "attacks": {"fgsm": {"eps": [0.25, 1.0]}, "bim": {"max_iter": 2}}},
    },
}


def test_pack_groups_keep_jobs_of_one_model_together() -> None:
    e = [PlannedJob("attack", {}, upstream=u, id=str(i)) for i, u in enumerate("abab a")]
    groups = pack_groups(e, 2)
    assert [[x.upstream for x in g] for g in groups] == [["a", "a"], ["a", "b"], ["b", " "]]
    assert [x.id for g in groups for x in g] == ["0", "2", "5", "1", "3", "4"]
    assert pack_groups(e, 1) == [[x] for x in e]


def write(tmp_path: Path, cache: Path, name: str, pack: int | None = None) -> Path:
    grid = json.loads(json.dumps(GRID))
    grid |= {"output": str(tmp_path / "run"), "cache": str(cache)}
    if pack:
        grid["resources"]["attack"] = {"pack": pack}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def attack_rows(run: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((run / "shards" / "attack").glob("*.parquet"))]
    df = pd.concat(frames, ignore_index=True)
    df = df.drop(columns=[c for c in df.columns if VOLATILE.search(c)])
    return df.sort_values(["job_id", "sample"]).reset_index(drop=True)


def forget_attacks(run: Path) -> None:
    for sub in ("shards/attack", "artefacts/attack", "errors", "logs/attack"):
        shutil.rmtree(run / sub, ignore_errors=True)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, pd.DataFrame]:
    """GRID run unpacked, locally, once for this module: (its run folder, its attack rows). Tests copy it."""
    root = tmp_path_factory.mktemp("pack-plain")
    plain = load_grid(write(root, cache_dir, "plain"))
    runs = submit(plain, executor="local", progress=False)
    assert all(not r.failures for r in runs)
    return RunPaths(plain.output).root, attack_rows(RunPaths(plain.output).root)


@pytest.mark.slow
def test_packed_equals_unpacked_and_resumes_per_job(tmp_path: Path, cache_dir: Path,
                                                    plain_run: tuple[Path, pd.DataFrame]) -> None:
    shutil.copytree(plain_run[0], tmp_path / "run")
    plain = load_grid(write(tmp_path, cache_dir, "plain"))
    run = RunPaths(plain.output).root
    expected = plain_run[1]
    pd.testing.assert_frame_equal(attack_rows(run), expected)  # the copy is the module's unpacked run
    ids = [j.id for j in plain.jobs["attack"]]
    assert len(ids) == 3 and len(expected) == 3 * 4

    # 1. packs of 2: same rows, one record per pack of several jobs
    forget_attacks(run)
    packed = load_grid(write(tmp_path, cache_dir, "packed", pack=2))
    (r,) = submit(packed, executor="local", stages=["attack"], progress=False)
    assert (r.succeeded, r.failures) == (3, [])
    pd.testing.assert_frame_equal(attack_rows(run), expected)
    records = [json.loads(p.read_text()) for p in (run / "logs" / "attack" / "packs").glob("*.json")]
    assert sorted(len(rec["jobs"]) for rec in records) == [2]  # packs of several (a pack of one is a plain task)

    # 2. a job failing mid-pack: the others finish; the rerun redoes exactly that one
    forget_attacks(run)
    victim = [e.id for e in pack_groups(packed.jobs["attack"], 2)[0]][1]
    os.environ["SERTACK_FAULT_INJECT"] = f"{victim}:raise"
    try:
        (r,) = submit(packed, executor="local", stages=["attack"], progress=False)
    finally:
        del os.environ["SERTACK_FAULT_INJECT"]
    assert [j for j, _ in r.failures] == [victim] and r.succeeded == 2
    assert (run / "errors" / f"{victim}.txt").exists()
    (r,) = submit(packed, executor="local", stages=["attack"], progress=False)
    assert (r.already_done, r.submitted, r.succeeded) == (2, 1, 1)
    pd.testing.assert_frame_equal(attack_rows(run), expected)

    # 3. a pack killed while its second job runs: the first job's shard stays and is not redone
    forget_attacks(run)
    env = {**os.environ, "SERTACK_FAULT_INJECT": f"{victim}:sleep=600"}
    first = pack_groups(packed.jobs["attack"], 2)[0][0].id
    proc = subprocess.Popen([sys.executable, "-m", "runner", "submit", str(tmp_path / "packed.yaml"), "--stage",
                             "attack", "--no-progress"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    shard = run / "shards" / "attack" / f"{first}.parquet"
    deadline = time.monotonic() + 300
    while not shard.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert shard.exists(), "the first job of the pack did not finish before the kill"
    mtime = shard.stat().st_mtime
    assert not (run / "shards" / "attack" / f"{victim}.parquet").exists()
    (r,) = submit(packed, executor="local", stages=["attack"], progress=False)
    assert r.already_done >= 1 and not r.failures
    assert shard.stat().st_mtime == mtime
    pd.testing.assert_frame_equal(attack_rows(run), expected)


def _slurm_up() -> bool:
    conf = os.environ.get("SLURM_CONF") or "/tmp/sertack-slurm/etc/slurm.conf"
    if not Path(conf).exists() or shutil.which("sbatch") is None:
        return False
    os.environ.setdefault("SLURM_CONF", conf)
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0


@pytest.mark.slurm
def test_packed_slurm_array_task_runs_jobs_and_resumes(tmp_path: Path, cache_dir: Path,
                                                       plain_run: tuple[Path, pd.DataFrame]) -> None:
    if not _slurm_up():
        pytest.skip("no Slurm controller answers (dev cluster: make slurm-up)")
    expected = plain_run[1]
    # the packed attack stage is under test: features and the model come from the module's unpacked run
    shutil.copytree(plain_run[0], tmp_path / "s" / "run")
    forget_attacks(tmp_path / "s" / "run")

    path = write(tmp_path / "s", cache_dir, "packed", pack=2)
    data = yaml.safe_load(path.read_text())
    data["name"] = f"pack-{os.getpid()}"
    path.write_text(yaml.safe_dump(data))
    grid = load_grid(path)
    run = RunPaths(grid.output).root
    victim = grid.jobs["attack"][2].id

    def cli(fault: str = "") -> None:
        env = {**os.environ, "SERTACK_FAULT_INJECT": fault}
        done = subprocess.run([sys.executable, "-m", "runner", "submit", str(path), "--executor", "slurm"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            out = subprocess.run(["squeue", "-h", "--name", ",".join(f"{data['name']}-{s}" for s in grid.stages)],
                                 capture_output=True, text=True)
            if out.returncode == 0 and not out.stdout.strip():
                return
            time.sleep(3)
        raise AssertionError("Slurm jobs still queued after 900 s")

    cli(fault=f"{victim}:raise")
    tasks = json.loads((run / "logs" / "attack" / "submitted.json").read_text())["jobs"]
    assert len(tasks) == 3 and len(set(tasks.values())) == 2  # 3 jobs in packs of 2: two array tasks
    done = {p.stem for p in (run / "shards" / "attack").glob("*.parquet")}
    assert done == {j.id for j in grid.jobs["attack"]} - {victim}
    assert (run / "errors" / f"{victim}.txt").read_text().startswith("RuntimeError: fault injected")
    mtimes = {p.stem: p.stat().st_mtime for p in (run / "shards" / "attack").glob("*.parquet")}
    cli()
    after = {p.stem: p.stat().st_mtime for p in (run / "shards" / "attack").glob("*.parquet")}
    assert set(after) == {j.id for j in grid.jobs["attack"]}
    assert all(after[k] == v for k, v in mtimes.items())  # finished shards were not rewritten
    pd.testing.assert_frame_equal(attack_rows(run), expected)


def test_slurm_dry_run_counts_packed_tasks(tmp_path: Path) -> None:
    grid = load_grid(REPO / "grids" / "demo.yaml", [f"output={tmp_path / 'run'}", "resources.attack={pack: 4}"])
    lines: list[str] = []
    runs = submit(grid, executor="slurm", dry_run=True, echo=lines.append)
    n = len(grid.jobs["attack"])
    assert [r.submitted for r in runs if r.stage == "attack"] == [n]
    head = next(line for line in lines if line.startswith("# attack:"))
    assert f"{n} jobs in {-(-n // 4)} packed tasks of up to 4" in head
    script = lines[lines.index(head) + 1]
    assert f"#SBATCH --array=0-{-(-n // 4) - 1}" in script


def test_a_busy_job_is_waited_for_not_failed(make_grid, fake_jobs) -> None:
    """The one busy-job policy (runner.pack): a job another process holds goes last and is waited for; the task
    neither fails nor ends before the job's shard exists (what reads it next would fail)."""
    grid = load_grid(make_grid(stages={"features": {}, "train": {"model": {"width": 0.25}}}))
    paths = RunPaths(grid.output)
    write_plan(grid, paths, paths.cache)
    run_one(paths.root, "features", grid.jobs["features"][0].id)
    busy, free = [j.id for j in grid.jobs["train"][:2]]
    taken, hold_s = threading.Event(), 0.5

    def other_process() -> None:
        with locked(paths.lock("train", busy)):
            taken.set()
            time.sleep(hold_s)

    holder = threading.Thread(target=other_process)
    holder.start()
    assert taken.wait(10)
    t0 = time.perf_counter()
    outcomes = list(run_pack(paths.root, "train", [busy, free]))
    holder.join()
    assert [(o.job_id, o.error, o.ran) for o in outcomes] == [(free, None, True), (busy, None, True)]
    assert time.perf_counter() - t0 >= hold_s * 0.9
    assert paths.shard("train", busy).exists() and not paths.error(busy).exists()
    assert json.loads(PackWorker()(str(paths.root), "train", [busy, free])) == \
        [str(paths.shard("train", j)) for j in (busy, free)]  # a rerun: both done, the task succeeds
