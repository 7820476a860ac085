"""runner.slurm against a real Slurm (the dev cluster: `make slurm-up`): arrays, fake GPUs, sacct, requeue.

The time-limit requeue test needs Slurm's 1-minute minimum limit, so its job is submitted by a module fixture
before the other tests and checked last; the other tests run while it waits for its USR2.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cloudpickle
import pytest
import submitit

from runner import slurm
from runner.resources import Resources, SiteProfile

pytestmark = pytest.mark.slurm

# Jobs unpickle these helpers on the node, where this test module is not importable: ship them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

PROFILE = SiteProfile(python=sys.executable, env={"SERTACK_E2E": "from-profile"})


def _poll(check: Callable[[], bool], timeout_s: float, every_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return check()


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
    executor = slurm.make_executor(
        slurm_folder / "requeue", Resources(time=1, mem="500M"), PROFILE, None, "e2e-requeue", [slurm_folder]
    )
    return executor.submit(SleepPastLimit(), 300)


def test_cluster_reports_array_cap(over_limit_job: submitit.Job) -> None:
    assert slurm.max_array_size() == int(os.environ.get("SERTACK_EXPECT_MAX_ARRAY", "1001"))


def test_gpu_array_runs_and_sacct_reports_each_task(over_limit_job: submitit.Job, slurm_folder: Path) -> None:
    executor = slurm.make_executor(
        slurm_folder / "gpu", Resources(gpus=1, mem="500M", time=5), PROFILE, None, "e2e-gpu", [slurm_folder]
    )
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


def test_job_over_time_limit_is_requeued_and_finishes(over_limit_job: submitit.Job) -> None:
    result = over_limit_job.result()  # blocks until the requeued run finishes
    assert result["restarts"] == "1", result
    assert _poll(lambda: slurm.sacct_states([over_limit_job.job_id]).get(over_limit_job.job_id) == "COMPLETED", 30)
    log = Path(over_limit_job.paths.stdout).read_text() + Path(over_limit_job.paths.stderr).read_text()
    assert "Requeued job" in log, "submitit requeued it after the time-limit signal"
