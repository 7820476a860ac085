"""Cases 2 and 3: corrupt shards and attack chunks are set aside with a reason and redone; unplanned shards are
listed, never merged. After repair the results and tables equal the uninterrupted run's."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from runner.cli import main
from runner.locks import attempts
from runner.plan import read_plan
from runner.reduce.report import reduce_run
from runner.status import run_status

from .conftest import assert_same_results, assert_same_tables

pytestmark = pytest.mark.slow


def test_truncated_and_garbage_shards_are_set_aside_shown_and_redone(copy_run, finished_run, capsys) -> None:
    grid_file, paths = copy_run()
    plan = read_plan(paths)
    train, attack = plan["train"][0].id, plan["attack"][0].id
    raw = paths.shard("train", train).read_bytes()
    paths.shard("train", train).write_bytes(raw[: len(raw) // 2])  # killed mid-copy: no footer
    paths.shard("attack", attack).write_bytes(b"not parquet at all")

    # status (read-only) shows both as failed, with the reason, and moves nothing
    report = run_status(paths)
    assert report["train"]["failed"] == 1 and report["attack"]["failed"] == 1
    assert report["train"]["failures"][train].startswith("CorruptShard: unreadable Parquet")
    assert "the next submit sets it aside" in report["attack"]["failures"][attack]
    assert paths.shard("train", train).exists() and not paths.quarantine("train").exists()

    assert main(["submit", str(grid_file), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^train +1 jobs, 0 already done, ran 1, 1 ok, 0 failed$", out, re.M)
    assert re.search(r"^attack +2 jobs, 1 already done, ran 1, 1 ok, 0 failed$", out, re.M)
    # set aside (kept byte for byte, with the reason), never deleted
    (kept,) = paths.quarantine("train").glob(f"{train}.*.parquet")
    assert kept.read_bytes() == raw[: len(raw) // 2]
    reason = kept.with_name(kept.name + ".reason.txt").read_text()
    assert reason.startswith("unreadable Parquet") and str(paths.shard("train", train)) in reason
    (junk,) = paths.quarantine("attack").glob(f"{attack}.*.parquet")
    assert junk.read_bytes() == b"not parquet at all"
    assert not paths.error(train).exists() and not paths.error(attack).exists()  # redone: no stale error
    assert all(s["failed"] == 0 and s["done"] == s["total"] for s in run_status(paths).values())

    reduce_run(paths.root, progress=False, audio_limit=0)
    assert_same_results(paths, type(paths)(finished_run))
    assert_same_tables(paths, type(paths)(finished_run))


def test_shard_of_another_job_is_not_trusted(copy_run) -> None:
    grid_file, paths = copy_run()
    a, b = (e.id for e in read_plan(paths)["attack"])
    shutil.copy(paths.shard("attack", a), paths.shard("attack", b))  # a copy under the wrong name
    reason = run_status(paths)["attack"]["failures"][b]
    assert f"holds rows of job {a!r}, not {b!r}" in reason


def test_truncated_attack_chunk_is_named_set_aside_and_redone(copy_run, finished_run) -> None:
    grid_file, paths = copy_run()
    job = read_plan(paths)["attack"][1].id
    chunk = paths.artefacts("attack", job) / "chunks" / "chunk-00001.parquet"
    raw = chunk.read_bytes()
    chunk.write_bytes(raw[: len(raw) // 2])
    paths.shard("attack", job).unlink()  # the job must assemble its chunks again
    assert main(["submit", str(grid_file), "--no-progress"]) == 0
    (kept,) = (chunk.parent / "quarantine").glob("chunk-00001.*.parquet")
    assert kept.read_bytes() == raw[: len(raw) // 2]
    assert kept.with_name(kept.name + ".reason.txt").read_text().startswith("unreadable Parquet")
    assert chunk.exists() and attempts(paths.lock("attack", job)) == 2  # the first run, then this repair
    reduce_run(paths.root, progress=False, audio_limit=0)
    assert_same_results(paths, type(paths)(finished_run))
    assert_same_tables(paths, type(paths)(finished_run))


def test_unplanned_shard_is_listed_not_merged(copy_run, finished_run, capsys) -> None:
    grid_file, paths = copy_run()
    a = read_plan(paths)["attack"][0].id
    shutil.copy(paths.shard("attack", a), paths.shard("attack", "0123456789abcdef"))  # e.g. from another run
    report = run_status(paths)
    assert report["attack"]["unplanned"] == ["0123456789abcdef"] and report["attack"]["failed"] == 0
    assert main(["status", str(paths.root)]) == 0
    assert "attack: 1 shard(s) not in the plan (ignored by reduce): 0123456789abcdef" in capsys.readouterr().out
    assert main(["reduce", str(paths.root), "--strict"]) == 0
    assert "complete: 4/4 planned jobs ok; 1 unplanned shard(s) ignored" in capsys.readouterr().out
    assert_same_results(paths, type(paths)(finished_run))  # FGSM's sample count not doubled
    status = pd.read_parquet(paths.results_dir / "status.parquet").set_index("job_id")
    assert status.loc["0123456789abcdef", "status"] == "unplanned"
