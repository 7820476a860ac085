"""runner.slurm against a real Slurm (the dev cluster: `make slurm-up`): arrays, fake GPUs, sacct, requeue.

Two layers: `make_executor` driven directly, and the runner's CLI (`python -m runner submit --executor slurm`,
`status --json`, `reduce`) on a tiny synthetic grid. Jobs that need Slurm's 1-minute minimum time limit are
submitted by module fixtures before anything waits, so they run alongside the rest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest
import submitit
import yaml

from runner import slurm
from runner.resources import Resources, SiteProfile
from tests.runner.tiny import assert_same_results, cli, shard_table, tiny_grid, wait_for_queue
from tests.runner.tiny import poll as _poll

pytestmark = pytest.mark.slurm

# Jobs unpickle these helpers on the node, where this test module is not importable: ship them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

PROFILE = SiteProfile(python=sys.executable, env={"SERTACK_E2E": "from-profile"})


def gpu_task(i: int) -> dict[str, str | int]:
    if i == 2:
        raise ValueError(f"task {i} fails on purpose")
    return {"i": i, "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""), "env": os.environ.get("SERTACK_E2E", "")}


class SleepPastLimit(submitit.helpers.Checkpointable):
    """Sleeps past its 1-minute limit on the first run; after submitit's requeue it returns at once."""

    def __call__(self, seconds: float) -> dict[str, str]:
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        if restarts == "0":
            time.sleep(seconds)
        return {"restarts": restarts, "job": os.environ.get("SLURM_JOB_ID", "")}


@pytest.fixture(scope="module")
def slurm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # jobs run as the submitting user on the same machine, so a local tmp folder is "shared" enough
    return tmp_path_factory.mktemp("slurm-e2e")


@pytest.fixture(scope="module")
def over_limit_job(slurm_folder: Path) -> submitit.Job:
    """Submitted first (module scope): Slurm checks limits every ~30 s, so this takes 40-90 s."""
    executor = slurm.make_executor(slurm.SlurmLaunch(
        slurm_folder / "requeue", Resources(time=1, mem="500M"), PROFILE, None, "e2e-requeue", [slurm_folder]
    ))
    return executor.submit(SleepPastLimit(), 300)


def test_cluster_reports_array_cap(over_limit_job: submitit.Job) -> None:
    assert slurm.max_array_size() == int(os.environ.get("SERTACK_EXPECT_MAX_ARRAY", "1001"))


def test_container_binds_cover_the_slurm_client(over_limit_job: submitit.Job) -> None:
    """What `scontrol requeue` needs inside a container, found on this host (Apptainer itself is absent here)."""
    binds = slurm.slurm_client_binds()
    assert binds[0].endswith("/scontrol") and Path(binds[0]).is_file()
    assert str(Path(os.environ["SLURM_CONF"]).resolve().parent) in binds
    assert any(b.endswith("libmunge.so.2") for b in binds), binds
    assert "/etc/passwd:/etc/passwd:ro" in binds, "scontrol resolves SlurmUser by name"
    assert any(Path(b, "auth_munge.so").is_file() for b in binds if ":" not in b), binds


def test_gpu_array_runs_and_sacct_reports_each_task(over_limit_job: submitit.Job, slurm_folder: Path) -> None:
    executor = slurm.make_executor(slurm.SlurmLaunch(
        slurm_folder / "gpu", Resources(gpus=1, mem="500M", time=5), PROFILE, None, "e2e-gpu", [slurm_folder]
    ))
    jobs = executor.map_array(gpu_task, range(4))
    assert len({j.job_id.split("_")[0] for j in jobs}) == 1, "one sbatch array"
    ok = [jobs[i].result() for i in (0, 1, 3)]
    assert {r["gpus"] for r in ok} <= {"0", "1"}, "each task sees exactly one fake GPU"
    assert all(r["env"] == "from-profile" for r in ok)
    with pytest.raises(submitit.core.utils.FailedJobError, match="task 2 fails on purpose"):
        jobs[2].result()

    ids = [j.job_id for j in jobs]
    want = {ids[0]: "COMPLETED", ids[1]: "COMPLETED", ids[2]: "FAILED", ids[3]: "COMPLETED"}
    assert _poll(lambda: {i: slurm.sacct_states(ids).get(i) for i in ids} == want, 30), slurm.sacct_states(ids)


# ---------------------------------------------------------------- the runner CLI on Slurm

def run_status(run: Path) -> dict:
    return json.loads(cli("status", str(run), "--json").stdout)


def submitted(run: Path, stage: str) -> dict[str, str]:
    """{job id: Slurm task id} of the latest submission of each job (written by the dispatcher)."""
    path = run / "logs" / stage / "submitted.json"
    return json.loads(path.read_text())["jobs"] if path.exists() else {}


@dataclass
class Scenario:
    """Snapshots of an interrupted Slurm run (A), its repair, a time-limited run (T) and a local run (B)."""

    a: Path
    b: Path
    t: Path
    ids: dict[str, list[str]]
    raised: str
    cancelled: list[str]
    status_1: dict
    status_2: dict
    tasks_1: dict[str, dict[str, str]]
    tasks_2: dict[str, dict[str, str]]
    mtimes_1: dict[str, float]
    mtimes_2: dict[str, float]
    resubmit_out: str
    t_status: dict
    cancelled_states: dict[str, str]


def _mtimes(run: Path) -> dict[str, float]:
    return {p.stem: p.stat().st_mtime for p in run.glob("shards/*/*.parquet")}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Scenario:
    from runner.grid import load_grid

    root = tmp_path_factory.mktemp("cli-e2e")
    a, t = root / "run-a", root / "run-t"
    grid_a = root / "a.yaml"
    tag = f"e2e{os.getpid()}"  # Slurm job names are `<grid name>-<stage>`: unique per test session
    grid_a.write_text(yaml.safe_dump(tiny_grid(f"{tag}-a", a)))
    # T: the features job sleeps past a 2-minute limit; the profile drops the fault on the requeued run.
    # Slurm sends USR2 at its 30 s check once at most signal_delay_s + 30 s remain: 60-90 s into a run here,
    # which leaves the requeued run at least 60 s (a 1-minute limit would signal every run at its first check).
    restart = {"setup": ['[ "${SLURM_RESTART_COUNT:-0}" = 0 ] || unset SERTACK_FAULT_INJECT'], "signal_delay_s": 30}
    (root / "restart.yaml").write_text(yaml.safe_dump(restart))
    grid_t = tiny_grid(f"{tag}-t", t, profile=str(root / "restart.yaml"))
    grid_t["stages"] = {"features": {}}
    grid_t["resources"]["features"] = {"time": 2}
    (root / "t.yaml").write_text(yaml.safe_dump(grid_t))

    jobs = load_grid(grid_a).jobs
    ids = {stage: [j.id for j in js] for stage, js in jobs.items()}
    attack = ids["attack"]
    raised, cancelled = attack[0], attack[2:]

    cli("submit", str(root / "t.yaml"), "--executor", "slurm", fault=f"{ids['features'][0]}:sleep=600")
    cli("submit", str(grid_a), "--executor", "slurm", fault=f"{raised}:raise")
    tasks = submitted(a, "attack")
    # cancel half of the attack array while it still waits for the train stage
    subprocess.run(["scancel", *(tasks[j] for j in cancelled)], check=True)
    b = request.getfixturevalue("bare_tiny_run")  # the uninterrupted reference runs in-process meanwhile

    names = [f"{tag}-a-{s}" for s in ids]
    wait_for_queue(names, 300)
    status_1, tasks_1, mtimes_1 = run_status(a), {s: submitted(a, s) for s in ids}, _mtimes(a)
    cancelled_states = slurm.sacct_states([tasks[j] for j in cancelled])
    resubmit = cli("submit", str(grid_a), "--executor", "slurm")
    wait_for_queue(names, 300)
    wait_for_queue([f"{tag}-t-features"], 300)
    return Scenario(
        a=a, b=b, t=t, ids=ids, raised=raised, cancelled=cancelled,
        status_1=status_1, status_2=run_status(a),
        tasks_1=tasks_1, tasks_2={s: submitted(a, s) for s in ids},
        mtimes_1=mtimes_1, mtimes_2=_mtimes(a),
        resubmit_out=resubmit.stdout, t_status=run_status(t),
        cancelled_states={j: cancelled_states.get(tasks[j], "no sacct row") for j in cancelled},
    )  # fmt: skip


def test_stages_run_as_dependent_arrays(scenario: Scenario) -> None:
    tasks = scenario.tasks_1
    assert {s: len({t.split("_")[0] for t in tasks[s].values()}) for s in tasks} == {s: 1 for s in tasks}
    times = {}
    for stage in ("features", "train"):
        task = tasks[stage][scenario.ids[stage][0]]
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", task, "-o", "JobID,Start,End"], capture_output=True, text=True
        ).stdout
        row = next(line.split("|") for line in out.splitlines() if line.startswith(task + "|"))
        times[stage] = (row[1], row[2])
    assert times["train"][0] >= times["features"][1], f"train started before features ended: {times}"


def test_failed_job_leaves_error_file_and_status_shows_it(scenario: Scenario) -> None:
    attack = scenario.status_1["attack"]
    assert scenario.raised in attack["failures"], attack
    assert "fault injected" in attack["failures"][scenario.raised]
    assert scenario.status_1["features"]["done"] == 1 and scenario.status_1["train"]["done"] == 1
    assert attack["done"] == 1, "the one attack job neither failed nor cancelled finished"
    assert not (scenario.a / "errors" / f"{scenario.raised}.txt").exists(), "the rerun removed the error file"


def test_resubmit_redoes_only_failed_and_cancelled_jobs(scenario: Scenario) -> None:
    changed = {
        jid for stage in scenario.tasks_2 for jid, task in scenario.tasks_2[stage].items()
        if scenario.tasks_1[stage].get(jid) != task
    }  # fmt: skip
    assert changed == {scenario.raised, *scenario.cancelled}
    assert re.search(r"attack\s+4 jobs, 1 already done, submitted 3", scenario.resubmit_out), scenario.resubmit_out
    # a task cancelled while pending never gets a sacct row; one cancelled later shows CANCELLED
    assert set(scenario.cancelled_states.values()) <= {"CANCELLED", "no sacct row"}, scenario.cancelled_states
    assert all(scenario.mtimes_2[jid] == m for jid, m in scenario.mtimes_1.items()), "finished shards were rewritten"
    assert all(v["done"] == v["total"] and v["failed"] == 0 for v in scenario.status_2.values()), scenario.status_2


def test_job_over_time_limit_is_requeued_through_the_runner(scenario: Scenario) -> None:
    assert scenario.t_status["features"]["done"] == 1, scenario.t_status
    task = submitted(scenario.t, "features")[scenario.ids["features"][0]]
    history = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-j", task, "-o", "JobID,State"], capture_output=True, text=True
    ).stdout
    assert "REQUEUED" in history and "COMPLETED" in history, history
    pd.testing.assert_frame_equal(shard_table(scenario.t, "features"), shard_table(scenario.a, "features"))


def test_reduced_tables_equal_those_of_an_uninterrupted_run(scenario: Scenario) -> None:
    cli("reduce", str(scenario.a))  # the bare reference is reduced by its fixture
    assert_same_results(scenario.a, scenario.b, list(scenario.ids))


# Last in the file on purpose: its job was submitted by the module's first test and has been running since.
def test_job_over_time_limit_is_requeued_and_finishes(over_limit_job: submitit.Job) -> None:
    result = over_limit_job.result()  # blocks until the requeued run finishes
    assert result["restarts"] == "1", result
    assert _poll(lambda: slurm.sacct_states([over_limit_job.job_id]).get(over_limit_job.job_id) == "COMPLETED", 30)
    log = Path(over_limit_job.paths.stdout).read_text() + Path(over_limit_job.paths.stderr).read_text()
    assert "Requeued job" in log, "submitit requeued it after the time-limit signal"
