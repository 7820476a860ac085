"""Jobs really run inside the Apptainer image (containers/sertack-debootstrap.def), through the dev Slurm cluster.

Needs apptainer and the image named by SERTACK_TEST_IMAGE (`make test` installs and builds both as root);
skipped with the reason otherwise. The Slurm scenario submits, before anything waits: the tiny grid with
`container: {image: ...}` (C), and a features-only copy whose job sleeps past a 2-minute limit inside the
image (T). The bare in-process run of the same grid is the session's `bare_tiny_run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.runner.tiny import assert_same_results, cli, shard_table, tiny_grid, wait_for_queue

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def image() -> Path:
    return Path(os.environ["SERTACK_TEST_IMAGE"])


def apptainer(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apptainer", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image_hash(image: Path) -> str:
    """The content hash build-image.sh put into the image's labels."""
    out = apptainer("inspect", "--labels", str(image))
    assert out.returncode == 0, out.stderr
    labels = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    return labels["org.sertack.content-hash"]


def test_apptainer_test_passes(image: Path, image_hash: str) -> None:
    done = apptainer("test", str(image))
    assert done.returncode == 0, done.stdout + done.stderr
    minor = ".".join(map(str, sys.version_info[:2]))
    assert f"python {minor}." in done.stdout and "tensorflow 2." in done.stdout, done.stdout
    assert f"image {image_hash}" in done.stdout and image.name == f"sertack-{image_hash}.sif"


def test_nv_without_a_gpu_runs_the_hosts_python_minor(image: Path) -> None:
    """cloudpickle crosses the boundary, so the image's Python minor version must be the submitting one's."""
    done = apptainer("exec", "--nv", str(image), "python", "-c", "import sys; print(sys.version_info[:2])")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sys.version_info[:2])


def test_root_outside_every_bind_fails_before_submit(image: Path, emodb_root: Path, tmp_path: Path) -> None:
    """The corpus root is a symlink inside the (bound) cache folder to a folder no bind covers."""
    cache, run = tmp_path / "cache", tmp_path / "run"
    cache.mkdir()
    (cache / "emodb").symlink_to(emodb_root.resolve())
    data = tiny_grid(f"cbind{os.getpid()}", run, cache=str(cache), container={"image": str(image)})
    data["corpora"] = [{"name": "emodb", "root": str(cache / "emodb")}]
    data["stages"] = {"features": {}}
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump(data))
    done = cli("submit", str(grid), "--executor", "slurm", ok=(2,))
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: container: corpora[0].root {cache}/emodb resolves to {emodb_root.resolve()}, ")
    assert "outside every container bind" in lines[0]
    assert not list(run.glob("logs/*/submitted.json")), "nothing was submitted"


@pytest.mark.slurm
def test_slurm_client_runs_inside_the_image(image: Path) -> None:
    """What submitit's requeue needs: scontrol reaches the controller from inside the image."""
    from runner.slurm import slurm_client_binds

    done = apptainer("exec", "--bind", ",".join(slurm_client_binds()), str(image), "scontrol", "ping")
    assert done.returncode == 0 and "is UP" in done.stdout, done.stdout + done.stderr


# ---------------------------------------------------------------- the tiny grid through Slurm, in the image


@dataclass
class Runs:
    c: Path
    t: Path
    stages: list[str]
    features_id: str
    t_status: dict


@pytest.fixture(scope="module")
def runs(image: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Runs:
    from runner.grid import load_grid

    root = tmp_path_factory.mktemp("container-e2e")
    c, t = root / "run-c", root / "run-t"
    tag = f"ctr{os.getpid()}"
    container = {"image": str(image)}  # nv defaults to true: --nv on a machine without a GPU
    (root / "c.yaml").write_text(yaml.safe_dump(tiny_grid(f"{tag}-c", c, container=container)))
    # T: as in test_slurm_e2e, a 2-minute limit with USR2 60 s before it (30 s was late once on a loaded
    # controller: USR2 and SIGTERM landed together and killed scontrol requeue); the requeued run drops the fault
    restart = {"setup": ['[ "${SLURM_RESTART_COUNT:-0}" = 0 ] || unset SERTACK_FAULT_INJECT'], "signal_delay_s": 60}
    (root / "restart.yaml").write_text(yaml.safe_dump(restart))
    grid_t = tiny_grid(f"{tag}-t", t, container=container, profile=str(root / "restart.yaml"))
    grid_t["stages"] = {"features": {}}
    grid_t["resources"]["features"] = {"time": 2}
    (root / "t.yaml").write_text(yaml.safe_dump(grid_t))
    jobs = load_grid(root / "c.yaml").jobs
    features_id = jobs["features"][0].id

    cli("submit", str(root / "t.yaml"), "--executor", "slurm", fault=f"{features_id}:sleep=600")
    cli("submit", str(root / "c.yaml"), "--executor", "slurm")
    request.getfixturevalue("bare_tiny_run")  # the bare reference runs in-process meanwhile
    wait_for_queue([f"{tag}-c-{s}" for s in jobs], 400)
    wait_for_queue([f"{tag}-t-features"], 300)
    cli("reduce", str(c), ok=(0,))
    t_status = json.loads(cli("status", str(t), "--json").stdout)
    return Runs(c=c, t=t, stages=list(jobs), features_id=features_id, t_status=t_status)


@pytest.mark.slurm
def test_every_stage_ran_in_the_image(runs: Runs, image: Path, image_hash: str) -> None:
    shards = sorted(runs.c.glob("shards/*/*.parquet"))
    assert {p.parent.name for p in shards} == set(runs.stages), "every stage finished"
    rows = pd.concat([pd.read_parquet(p, columns=["stage", "container", "image_hash"]) for p in shards])
    assert set(rows.container) == {str(image)} and set(rows.image_hash) == {image_hash}, rows.drop_duplicates()
    for stage in runs.stages:  # the sbatch script submitit ran wraps python in `apptainer exec --nv ... IMAGE`
        script = next((runs.c / "logs" / stage).glob("*_submission.sh")).read_text()
        assert "apptainer exec --nv --bind " in script and f" {image} python -u -m submitit" in script, script


@pytest.mark.slurm
def test_reduced_tables_equal_the_bare_run(runs: Runs, bare_tiny_run: Path) -> None:
    assert_same_results(runs.c, bare_tiny_run, runs.stages)


@pytest.mark.slurm
def test_report_provenance_names_the_image(runs: Runs, image: Path, image_hash: str) -> None:
    prov = json.loads((runs.c / "report" / "provenance.json").read_text())
    n_jobs = len(list(runs.c.glob("shards/*/*.parquet")))
    assert prov["images"] == {f"{image.name} (hash {image_hash})": n_jobs}, prov["images"]
    assert f"{image.name} (hash {image_hash})" in (runs.c / "report" / "index.html").read_text()


@pytest.mark.slurm
def test_job_over_time_limit_in_the_image_is_requeued(runs: Runs) -> None:
    """submitit's `scontrol requeue` runs inside the image: the Slurm client binds work."""
    assert runs.t_status["features"]["done"] == 1, runs.t_status
    task = json.loads((runs.t / "logs" / "features" / "submitted.json").read_text())["jobs"][runs.features_id]
    history = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-j", task, "-o", "JobID,State"], capture_output=True, text=True
    ).stdout
    assert "REQUEUED" in history and "COMPLETED" in history, history
    logs = "".join(p.read_text(errors="replace") for p in (runs.t / "logs" / "features").glob("*_log.*"))
    assert "Requeued job" in logs, "submitit requeued it from inside the container"
    pd.testing.assert_frame_equal(shard_table(runs.t, "features"), shard_table(runs.c, "features"))
    assert pd.read_parquet(next(runs.t.glob("shards/features/*.parquet"))).container.iloc[0] != ""
