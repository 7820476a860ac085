"""The worker: shards written atomically with run columns, idempotence, error files, upstream checks, requeue."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
import submitit

from runner.grid import load_grid
from runner.paths import RunPaths
from runner.plan import write_plan
from runner.worker import Worker, run_one
from sercore.errors import JobError


@pytest.fixture
def planned(make_grid):
    grid = load_grid(make_grid())
    paths = RunPaths(grid.output)
    write_plan(grid, paths, paths.cache)
    return grid, paths


def test_shard_has_job_rows_and_run_columns(planned, fake_jobs) -> None:
    grid, paths = planned
    job = grid.jobs["features"][0]
    shard = run_one(paths.root, "features", job.id)
    assert shard == paths.shard("features", job.id)
    df = pd.read_parquet(shard)
    assert list(df.columns) == ["kind", "value", "job_id", "stage", "host", "device", "container", "image_hash",
                                "sertack_version", "code_hash", "packages", "git_commit", "git_dirty", "started_at",
                                "wall_s", "peak_rss_mb", "peak_rss_scope", "peak_rss_children_mb", "finished_at"]
    assert df.loc[0, "job_id"] == job.id and df.loc[0, "stage"] == "features" and df.loc[0, "device"] == "cpu"
    assert df.loc[0, "container"] == "" and df.loc[0, "image_hash"] == "", "ran bare"
    assert (paths.artefacts("features", job.id) / "done.txt").exists()
    assert not any(p.name.startswith(".") for p in paths.shard_dir("features").iterdir())


def test_existing_shard_is_skipped_and_never_rewritten(planned, fake_jobs) -> None:
    grid, paths = planned
    job = grid.jobs["features"][0]
    shard = run_one(paths.root, "features", job.id)
    before = shard.stat().st_mtime_ns
    run_one(paths.root, "features", job.id)
    assert fake_jobs == [job.id] and shard.stat().st_mtime_ns == before


def test_failure_writes_error_file_and_reraises(planned, fake_jobs, monkeypatch) -> None:
    grid, paths = planned
    job = grid.jobs["features"][0]
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"other:raise,{job.id}:raise")
    with pytest.raises(RuntimeError, match="fault injected"):
        run_one(paths.root, "features", job.id)
    text = paths.error(job.id).read_text()
    assert text.splitlines()[0] == f"RuntimeError: fault injected for job {job.id} (SERTACK_FAULT_INJECT)"
    assert "Traceback (most recent call last)" in text
    assert not paths.shard("features", job.id).exists()
    monkeypatch.delenv("SERTACK_FAULT_INJECT")
    run_one(paths.root, "features", job.id)  # a later success removes the stale error file
    assert not paths.error(job.id).exists()


def test_missing_upstream_shard(planned, fake_jobs) -> None:
    grid, paths = planned
    attack = grid.jobs["attack"][0]
    with pytest.raises(JobError, match=f"upstream train job {attack.upstream} has no shard"):
        run_one(paths.root, "attack", attack.id)
    assert paths.error(attack.id).read_text().startswith("JobError: upstream train job")
    assert fake_jobs == []


def test_attack_gets_its_training_artefacts(planned, fake_jobs) -> None:
    grid, paths = planned
    attack = grid.jobs["attack"][0]
    run_one(paths.root, "features", grid.jobs["features"][0].id)
    run_one(paths.root, "train", attack.upstream)
    run_one(paths.root, "attack", attack.id)  # the fake asserts env.upstream is the train artefact folder
    assert paths.shard("attack", attack.id).exists()


def test_sleep_injection(planned, fake_jobs, monkeypatch) -> None:
    grid, paths = planned
    job = grid.jobs["features"][0]
    monkeypatch.setenv("SERTACK_FAULT_INJECT", f"{job.id}:sleep=0.2")
    import time

    t0 = time.perf_counter()
    shard = run_one(paths.root, "features", job.id)
    assert time.perf_counter() - t0 >= 0.2
    trace = pd.read_parquet(shard).iloc[0]  # the job's trace (runner.trace) counts the sleep
    assert 0.2 <= trace.wall_s < time.perf_counter() - t0 + 0.01 and trace.peak_rss_mb > 0
    assert trace.started_at <= trace.finished_at


def test_worker_is_checkpointable_and_picklable(planned, fake_jobs) -> None:
    grid, paths = planned
    job = grid.jobs["features"][0]
    worker = Worker()
    assert isinstance(worker, submitit.helpers.Checkpointable)
    delayed = worker.checkpoint(str(paths.root), "features", job.id)
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    again = pickle.loads(pickle.dumps(delayed))
    assert again.args == (str(paths.root), "features", job.id)
    again.result()  # the requeued call re-enters run_one
    assert paths.shard("features", job.id).exists()


def test_shard_records_the_image_it_ran_in(planned, fake_jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside Apptainer, APPTAINER_CONTAINER names the image and its %environment sets SERTACK_IMAGE_HASH."""
    grid, paths = planned
    monkeypatch.setenv("APPTAINER_CONTAINER", "/images/sertack-0123456789ab.sif")
    monkeypatch.setenv("SERTACK_IMAGE_HASH", "0123456789ab")
    df = pd.read_parquet(run_one(paths.root, "features", grid.jobs["features"][0].id))
    assert (df.loc[0, "container"], df.loc[0, "image_hash"]) == ("/images/sertack-0123456789ab.sif", "0123456789ab")


def test_transfer_job_gets_its_model_and_attack_folders(make_grid, fake_jobs, monkeypatch) -> None:
    grid = load_grid(make_grid(stages__transfer={"attacks": ["fgsm"], "targets": ["arch_study"]}))
    paths = RunPaths(grid.output)
    write_plan(grid, paths, paths.cache)
    job = grid.jobs["transfer"][0]
    spec = job.spec
    with pytest.raises(JobError, match="has no shard"):
        run_one(paths.root, "transfer", job.id)
    run_one(paths.root, "features", grid.jobs["features"][0].id)
    run_one(paths.root, "train", spec.source.job_id)
    for a in spec.attacks:
        run_one(paths.root, "attack", a.job_id)
    with pytest.raises(JobError, match=f"upstream arch_study job {spec.target.job_id} has no shard"):
        run_one(paths.root, "transfer", job.id)
    run_one(paths.root, "arch_study", spec.target.job_id)
    seen = {}

    def fake_transfer(s, workdir, env):
        seen.update(upstream=env.upstream, inputs=dict(env.inputs))
        return pd.DataFrame({"kind": ["transfer"]})
    monkeypatch.setattr("sercore.jobs.entry_point", lambda kind: fake_transfer)
    run_one(paths.root, "transfer", job.id)
    assert seen["upstream"] == paths.artefacts("arch_study", spec.target.job_id)
    assert seen["inputs"]["source"] == paths.artefacts("train", spec.source.job_id)
    assert {k for k in seen["inputs"] if k != "source"} == {a.job_id for a in spec.attacks}


@pytest.mark.parametrize("name", ["USR2", "USR1"])
def test_the_first_checkpoint_ignores_further_preemption_signals(monkeypatch: pytest.MonkeyPatch,
                                                                   name: str) -> None:
    """A task's checkpoint (runner.worker.RequeueOnce) ignores the signal submitit requeues on
    (SUBMITIT_PREEMPT_SIGNAL, USR2 by default), so a second delivery cannot enter a second handler while the first
    saves the requeue pickle."""
    import signal

    monkeypatch.setattr(submitit.JobEnvironment, "USR_SIG", name)
    sig = getattr(signal, "SIG" + name)
    before = signal.signal(sig, signal.SIG_DFL)
    try:
        delayed = Worker().checkpoint("run", "attack", "job")
        assert signal.getsignal(sig) == signal.SIG_IGN
        assert delayed.args == ("run", "attack", "job")
    finally:
        signal.signal(sig, before)
