"""Plan files and job states read from shards and error files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from runner.grid import load_grid
from runner.paths import RunPaths
from runner.plan import find_entry, read_meta, read_plan, states, write_plan
from runner.shards import error_reason
from sercore.errors import ConfigError, JobError
from sercore.io import write_parquet
from sercore.specs import job_from_dict


def test_plan_files_round_trip(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid())
    paths = RunPaths(grid.output)
    write_plan(grid, paths, tmp_path / "cache")
    plan = read_plan(paths)
    assert list(plan) == grid.stages
    for stage, jobs in grid.jobs.items():
        assert [e.id for e in plan[stage]] == [j.id for j in jobs]
        assert job_from_dict(plan[stage][0].spec_dict()) == jobs[0].spec
    attack = plan["attack"][0]
    assert attack.upstream_stage == "train" and attack.upstream in {e.id for e in plan["train"]}
    assert read_meta(paths)["cache"] == str(tmp_path / "cache")
    assert paths.grid.exists()
    first = json.loads(paths.plan("train").read_text().splitlines()[0])
    assert list(first)[0] == "id"


def test_find_entry(make_grid) -> None:
    grid = load_grid(make_grid())
    paths = RunPaths(grid.output)
    write_plan(grid, paths, paths.cache)
    job = grid.jobs["attack"][-1]
    assert find_entry(paths, "attack", job.id).spec_dict() == job.spec.model_dump(mode="json")
    with pytest.raises(JobError, match="no job 'nope'"):
        find_entry(paths, "attack", "nope")


def test_dropped_stage_loses_its_plan(make_grid) -> None:
    grid = load_grid(make_grid())
    paths = RunPaths(grid.output)
    write_plan(grid, paths, paths.cache)
    smaller = load_grid(make_grid(stages__attack=None))
    with pytest.raises(ConfigError, match="is a run of an earlier version of grid .*--replace-grid"):
        write_plan(smaller, paths, paths.cache)  # never silently replaces another grid's plan
    assert "attack" in read_plan(paths)
    write_plan(smaller, paths, paths.cache, replace=True)
    assert "attack" not in read_plan(paths)
    (old,) = paths.replaced_dir.iterdir()  # the replaced grid's files are kept, not deleted
    assert (old / "plan" / "attack.jsonl").is_file() and (old / "grid.yaml").is_file()


def test_states_from_shards_and_errors(make_grid) -> None:
    grid = load_grid(make_grid())
    paths = RunPaths(grid.output)
    plan = write_plan(grid, paths, paths.cache)
    train = [e.id for e in plan["train"]]
    paths.shard_dir("train").mkdir(parents=True)
    write_parquet(pd.DataFrame({"job_id": [train[0]], "stage": "train", "host": "h", "device": "cpu",
                                "finished_at": "t"}), paths.shard("train", train[0]))
    (paths.shard_dir("train") / f".{train[1]}.parquet.tmp").write_bytes(b"half")  # in-flight: not done
    paths.error_dir.mkdir()
    paths.error(train[2]).write_text("ValueError: boom\n\ntraceback...")
    paths.error(train[0]).write_text("stale error of a job that later succeeded")
    st = states(paths, plan)["train"]
    assert st.done == {train[0]} and st.failed == {train[2]} and st.pending == {train[1], train[3]}
    assert st.counts() == {"total": 4, "done": 1, "failed": 1, "pending": 2}
    assert error_reason(paths, train[2]) == "ValueError: boom"


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run folder"):
        read_plan(RunPaths(tmp_path))
