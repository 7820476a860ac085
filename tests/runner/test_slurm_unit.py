"""runner.slurm without a cluster: golden sbatch scripts, parameters, sacct/scontrol parsing, profiles."""

from __future__ import annotations

import logging
import os
import shlex
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner import slurm
from runner.container import ContainerSpec
from runner.resources import Resources, SiteProfile, load_profile
from sercore.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SLURM_CLIENT = ["/usr/bin/scontrol", "/usr/lib/x86_64-linux-gnu/slurm-wlm", "/run/munge", "/etc/slurm"]
FOLDER = Path("/runs/demo/logs/train")


def _gpu_case() -> dict:
    return dict(
        folder=FOLDER,
        resources=Resources(gpus=1, cpus=4, mem="16G", time=120, partition="gpu", account="proj42"),
        profile=SiteProfile(
            setup=("module load apptainer/1.3",),
            env={"OMP_NUM_THREADS": "4", "TF_CPP_MIN_LOG_LEVEL": "2"},
            sbatch={"mail-type": "FAIL"},
        ),
        container=ContainerSpec(image="/shared/images/sertack.sif"),
        job_name="sertack-train",
        bind_paths=[Path("/runs/demo"), Path("/data/emodb")],
    )


def test_sbatch_bare_cpu_job_matches_golden(golden: Callable[[str, str], None]) -> None:
    text = slurm.sbatch_script(slurm.SlurmLaunch(
        FOLDER.parent / "features",
        Resources(cpus=2, mem="8G", time=30),
        SiteProfile(python="/opt/venv/bin/python"),
        None,
        "sertack-features",
        [Path("/runs/demo")],
        slurm_binds=SLURM_CLIENT,
    ))
    golden("sbatch_bare_cpu.sh", text)


def test_sbatch_gpu_array_in_container_matches_golden(golden: Callable[[str, str], None]) -> None:
    launch = slurm.SlurmLaunch(**_gpu_case(), slurm_binds=SLURM_CLIENT)
    text = slurm.sbatch_script(launch, map_count=300, dependency="afterany:41:42")
    golden("sbatch_gpu_array_container.sh", text)


def test_executor_submits_exactly_the_golden_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import submitit

    # SlurmExecutor refuses to exist where `srun` is not on PATH; nothing is submitted here.
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 2))
    image = tmp_path / "sertack.sif"
    image.write_bytes(b"")
    (tmp_path / "apptainer").write_text("#!/bin/sh\n")
    (tmp_path / "apptainer").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    case = _gpu_case() | {"container": ContainerSpec(image=str(image)), "folder": tmp_path / "logs"}
    launch = slurm.SlurmLaunch(**case, slurm_binds=SLURM_CLIENT)
    executor = slurm.make_executor(launch, dependency="afterok:7")
    submitted = executor._make_submission_file_text(executor._submitit_command_str, "uid")
    assert submitted == slurm.sbatch_script(launch, dependency="afterok:7")
    assert f"apptainer exec --nv --bind {tmp_path / 'logs'},/runs/demo" in submitted


def test_make_executor_fails_early_without_apptainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    case = _gpu_case() | {"folder": tmp_path}
    with pytest.raises(ConfigError, match="container.apptainer"):
        slurm.make_executor(slurm.SlurmLaunch(**case, slurm_binds=[]))


def test_parameters_follow_the_stage_resources() -> None:
    cpu = slurm.executor_parameters(Resources(time=1), SiteProfile(), None, "j")
    assert "gpus_per_task" not in cpu and "partition" not in cpu
    assert cpu["signal_delay_s"] == 30  # at most half of a 1-minute limit
    gpu = slurm.executor_parameters(Resources(gpus=2, qos="high", constraint="a100"), SiteProfile(), None, "j")
    assert (gpu["gpus_per_task"], gpu["qos"], gpu["constraint"], gpu["ntasks_per_node"]) == (2, "high", "a100", 1)
    assert gpu["signal_delay_s"] == 90


def test_bare_job_uses_profile_python_or_this_interpreter() -> None:
    assert slurm.job_python(SiteProfile(python="/env/bin/python"), None) == "/env/bin/python"
    assert slurm.job_python(SiteProfile(), None) == shlex.quote(sys.executable)


def _fake_command(folder: Path, name: str, stdout: str, rc: int = 0) -> None:
    (folder / f"{name}.out").write_text(stdout)
    exe = folder / name
    exe.write_text(f"#!/bin/sh\n/bin/cat '{folder / f'{name}.out'}'\nexit {rc}\n")
    exe.chmod(stat.S_IRWXU)


SACCT_OUT = """\
JobID|State
57_0|COMPLETED
57_1|FAILED
57_2|CANCELLED by 0
57_3|RUNNING
57_[4-6,9%2]|PENDING
58|TIMEOUT
"""


def test_sacct_states_expands_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_command(tmp_path, "sacct", SACCT_OUT)
    monkeypatch.setenv("PATH", str(tmp_path))
    states = slurm.sacct_states(["57_0", "57_1", "58"])
    assert states == {
        "57_0": "COMPLETED",
        "57_1": "FAILED",
        "57_2": "CANCELLED",
        "57_3": "RUNNING",
        "57_4": "PENDING",
        "57_5": "PENDING",
        "57_6": "PENDING",
        "57_9": "PENDING",
        "58": "TIMEOUT",
    }


def test_sacct_states_is_empty_without_sacct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert slurm.sacct_states(["1_0"]) == {}
    _fake_command(tmp_path, "sacct", "Slurm accounting storage is disabled\n", rc=1)
    assert slurm.sacct_states(["1_0"]) == {}
    assert slurm.sacct_states([]) == {}


def test_max_array_size_from_scontrol_profile_and_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    slurm._config_cached.cache_clear()
    try:
        _fake_command(tmp_path, "scontrol", "Configuration data as of x\nMaxArraySize            = 5000\n")
        assert slurm.max_array_size() == 5000
        assert slurm.max_array_size(SiteProfile(max_array_size=64)) == 64
        slurm._config_cached.cache_clear()
        (tmp_path / "scontrol").unlink()
        with caplog.at_level(logging.WARNING, logger="runner.slurm"):
            assert slurm.max_array_size() == slurm.DEFAULT_MAX_ARRAY_SIZE
        assert "MaxArraySize" in caplog.text
    finally:
        slurm._config_cached.cache_clear()


def test_example_profile_loads_and_bad_keys_name_the_file(tmp_path: Path) -> None:
    profile = load_profile(REPO / "slurm" / "profiles" / "example.yaml")
    assert profile.setup and profile.env["OMP_NUM_THREADS"] == "4" and profile.signal_delay_s == 120
    bad = tmp_path / "site.yaml"
    bad.write_text("setup: [x]\npartitions: gpu\n")
    with pytest.raises(ConfigError, match=r"site.yaml: partitions: .*valid keys: setup, env"):
        load_profile(bad)


def test_squeue_tasks_expands_pending_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_command(tmp_path, "squeue", "61_0\n61_[2-3%1]\n62\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert slurm.squeue_tasks(["61_0", "62"]) == {"61_0", "61_2", "61_3", "62"}
    assert slurm.squeue_tasks([]) == set()
