"""Round 3, item 1: every artefact a later job reads is checked when read; a corrupt one is set aside with its
reason (never deleted), named in the error, and its job redone. A cached summary never stands in for a shard."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.cli import main
from runner.plan import read_meta, read_plan
from runner.reduce.report import reduce_run
from runner.status import run_status
from sercore.errors import DataError

from .conftest import assert_same_results

pytestmark = pytest.mark.slow


def truncate(path: Path) -> bytes:
    """Cut a file to half its size (a killed copy); returns what is left."""
    raw = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(raw)
    return raw


def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


@pytest.mark.parametrize(("name", "kept"), [("model.keras", "model.*.keras"), ("scaler.npz", "scaler.*.npz"),
                                            ("summary.json", "summary.*.json")])
def test_truncated_train_artefact_fails_its_shard_named_set_aside_and_redone(copy_run, monkeypatch, capsys, name,
                                                                             kept) -> None:
    grid_file, paths = copy_run()
    train = read_plan(paths)["train"][0].id
    artefact = paths.artefacts("train", train) / name
    left = truncate(artefact)
    # status (read-only) names the file and moves nothing
    reason = run_status(paths)["train"]["failures"][train]
    assert reason.startswith(f"CorruptShard: artefact {artefact}: ") and "next submit sets it aside" in reason
    assert artefact.exists() and paths.shard("train", train).exists()
    # submit sets artefact and shard aside (kept byte for byte, with the reason) and redoes the job (a fake job
    # here: that a redone tiny training gives the same results is test_shards' case)
    redone = fake_jobs_now(monkeypatch)
    assert main(["submit", str(grid_file), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^train +1 jobs, 0 already done, ran 1, 1 ok, 0 failed$", out, re.M), out
    assert re.search(r"^attack +2 jobs, 2 already done, ran 0", out, re.M) and redone == [train]
    moved = only(paths.quarantine("train") / train, kept)
    assert moved.read_bytes() == left
    assert moved.with_name(moved.name + ".reason.txt").read_text().startswith(f"{artefact}: ")
    shard = only(paths.quarantine("train"), f"{train}.*.parquet")
    assert shard.with_name(shard.name + ".reason.txt").read_text().startswith(f"artefact {artefact}: ")


def fake_jobs_now(monkeypatch) -> list[str]:
    """From here on, jobs are tests.runner.conftest's fakes (one-row shards, no training); returns who ran."""
    calls: list[str] = []

    def make(kind: str):
        def run(spec, workdir: Path, env) -> pd.DataFrame:
            calls.append(spec.job_id)
            return pd.DataFrame({"kind": [kind], "value": [1.0]})

        return run

    monkeypatch.setattr("sercore.jobs.entry_point", make)
    return calls


def test_deleted_shard_is_not_answered_from_summary_json(copy_run, monkeypatch) -> None:
    """A train job whose folder holds a valid summary.json and model trains again (run here up to training)."""
    import sercore.train as train_mod
    from sercore.env import JobEnv

    _, paths = copy_run()
    entry = read_plan(paths)["train"][0]
    folder = paths.artefacts("train", entry.id)
    paths.shard("train", entry.id).unlink()
    trained = []
    monkeypatch.setattr(train_mod, "train_prepared", lambda job, data, workdir: trained.append(job.job_id) or {})
    train_mod.run_train(entry.spec, folder, JobEnv(cache_dir=Path(read_meta(paths)["cache"])))
    assert trained == [entry.id]


def test_truncated_chunk_manifest_sets_the_chunks_aside_and_redoes_them(copy_run, finished_run) -> None:
    grid_file, paths = copy_run()
    job = read_plan(paths)["attack"][0].id
    manifest = paths.artefacts("attack", job) / "chunks" / "manifest.json"
    left = truncate(manifest)
    paths.shard("attack", job).unlink()  # the job must read its chunk folder again
    assert main(["submit", str(grid_file), "--no-progress"]) == 0
    moved = only(paths.artefacts("attack", job) / "quarantine", "chunks.*[0-9]Z")
    assert (moved / "manifest.json").read_bytes() == left
    reason = moved.with_name(moved.name + ".reason.txt").read_text()
    assert reason.startswith(f"{manifest}: unreadable chunk manifest (JSONDecodeError")
    assert manifest.is_file() and paths.shard("attack", job).is_file()
    reduce_run(paths.root, progress=False, audio_limit=0)
    assert_same_results(paths, type(paths)(finished_run))


def test_truncated_examples_are_skipped_by_reduce_then_set_aside_and_redone(copy_run, monkeypatch) -> None:
    grid_file, paths = copy_run()
    jobs = [e.id for e in read_plan(paths)["attack"]]
    for job in jobs:  # every job's: the report has no other examples to fall back on
        truncate(paths.artefacts("attack", job) / "examples.npz")
    assert main(["reduce", str(paths.root)]) == 0  # no crash: skipped, with a note in the report
    readme = (paths.report_dir / "README.md").read_text()
    assert "Skipped while reducing:" in readme
    assert re.search(rf"^- attack job ({'|'.join(jobs)}) skipped: .*examples.npz: unreadable examples file", readme,
                     re.M)
    assert "Skipped while reducing:" in (paths.report_dir / "index.html").read_text()
    redone = fake_jobs_now(monkeypatch)
    assert main(["submit", str(grid_file), "--no-progress"]) == 0
    assert sorted(redone) == sorted(jobs)
    for job in jobs:
        moved = only(paths.quarantine("attack") / job, "examples.*.npz")
        assert moved.with_name(moved.name + ".reason.txt").read_text().startswith(
            f"{paths.artefacts('attack', job) / 'examples.npz'}: unreadable examples file")


# --- the feature store (x.npy, meta.parquet) and training inputs: on a private copy of the session's store ---

@pytest.fixture
def private_store(finished_run: Path, cache_dir: Path, tmp_path: Path):
    """(open(), entry folder) of a private cache holding a copy of the tiny run's corpus and feature store."""
    from runner.paths import RunPaths
    from sercore.datasets import corpus_root
    from sercore.store import open_store

    spec = read_plan(RunPaths(finished_run))["features"][0].spec
    entry = open_store(spec.corpus, spec.features, cache_dir, workers=1, progress=False).path
    cache = tmp_path / "cache"
    for src in (corpus_root(spec.corpus, cache_dir), entry):
        shutil.copytree(src, cache / src.relative_to(cache_dir))

    def open_() -> object:
        return open_store(spec.corpus, spec.features, cache, workers=1, progress=False)

    return open_, cache / entry.relative_to(cache_dir)


@pytest.mark.parametrize("case", ["x.npy", "meta.parquet", "nan"])
def test_corrupt_feature_store_is_set_aside_named_and_rebuilt(private_store, case) -> None:
    open_, entry = private_store
    x0 = np.load(entry / "x.npy")
    if case == "nan":
        x = np.load(entry / "x.npy", mmap_mode="r+")
        x[[1, 3], 5, 7] = np.nan
        x.flush()
        del x
        problem = f"{entry / 'x.npy'}: 2 of {len(x0)} segments hold NaN or infinite values"
    else:
        truncate(entry / case)
        problem = f"{entry / case}: unreadable"
    store = open_()
    np.testing.assert_array_equal(np.asarray(store.x), x0)  # rebuilt from the audio
    moved = only(entry.parents[1] / "quarantine" / "features", f"{entry.name}.*Z")
    assert moved.with_name(moved.name + ".reason.txt").read_text().startswith(problem)
    assert (moved / "x.npy").is_file()  # kept, never deleted


def test_feature_store_built_with_nan_is_refused_with_the_count(private_store, monkeypatch) -> None:
    import sercore.store as store_mod

    open_, entry = private_store
    shutil.rmtree(entry)
    real = store_mod._write_entry

    def nan_segments(final, arrays, *rest):  # extraction gone wrong: NaN in the first two files' segments
        arrays = [a.copy() for a in arrays]
        for a in arrays[:2]:
            a[0, 0, 0] = np.nan
        return real(final, arrays, *rest)

    monkeypatch.setattr(store_mod, "_write_entry", nan_segments)
    with pytest.raises(DataError, match=r"x\.npy: 2 of \d+ segments hold NaN or infinite values \(refused; the store "
                                        r"was just built"):
        open_()
    assert not entry.exists()  # never trusted by a later job: set aside


def test_nan_training_inputs_are_refused_with_the_count(finished_run) -> None:
    from dataclasses import replace

    from runner.paths import RunPaths
    from sercore.data import prepare
    from sercore.train import check_prepared

    paths = RunPaths(finished_run)
    spec = read_plan(paths)["train"][0].spec
    data = prepare(spec.data, Path(read_meta(paths)["cache"]))
    x = data.x_train.copy()
    x[[0, 2]] = np.inf
    with pytest.raises(DataError, match=rf"^train split inputs: 2 of {len(x)} segments hold NaN or infinite"):
        check_prepared(replace(data, x_train=x))


def test_transfer_reads_of_scaler_and_deltas_name_the_file(finished_run, tmp_path: Path) -> None:
    """A transfer job's reads go through the same checks (a corrupt train artefact is also set aside and its
    job redone by the next submit: test_truncated_train_artefact_fails_its_shard_named_set_aside_and_redone)."""
    from runner.paths import RunPaths
    from sercore.transfer_job import read_deltas, read_scaler

    paths = RunPaths(finished_run)
    plan = read_plan(paths)
    train = plan["train"][0]
    shutil.copy(paths.artefacts("train", train.id) / "scaler.npz", tmp_path / "scaler.npz")
    assert len(read_scaler(tmp_path)[2]) >= 2
    truncate(tmp_path / "scaler.npz")
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'scaler.npz'))}: unreadable scaler \("):
        read_scaler(tmp_path)

    attack = plan["attack"][0]
    shutil.copytree(paths.artefacts("attack", attack.id) / "chunks", tmp_path / "a" / "chunks")
    n_test = int(pd.read_parquet(paths.shard("train", train.id))["n_test"].item())
    rows, delta = read_deltas(tmp_path / "a", attack.spec, n_test)
    assert len(rows) == len(delta) == 4 and np.isfinite(delta).all()
    first = tmp_path / "a" / "chunks" / "chunk-00000.delta.npz"
    truncate(first)
    with pytest.raises(DataError, match=rf"^{re.escape(str(first))}: unreadable adversarial deltas \("):
        read_deltas(tmp_path / "a", attack.spec, n_test)
