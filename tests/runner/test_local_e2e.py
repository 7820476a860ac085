"""The local executor end to end with the real science jobs on a tiny synthetic grid: every stage, every shard,
and a rerun that submits nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from runner.dispatch import submit
from runner.grid import load_grid
from runner.paths import RunPaths
from runner.plan import read_plan, states
from tests.runner.conftest import TINY_HEAD

pytestmark = pytest.mark.slow

TINY = {
    **TINY_HEAD,
    "name": "e2e",
    "stages": {
        "features": {},
        "tune": {"stage": 1, "max_epochs": 1, "factor": 2, "hyperband_iterations": 1, "executions_per_trial": 1,
                 "max_trials": 1, "lstm_units": [4], "model": {"width": 0.125, "lstm_units": 4}},
        "norm_study": {"normalization": "norm_max_global", "model": {"arch": "m0", "width": 0.125},
                       "train": {"epochs": 1}},
        "arch_study": {"model": {"arch": "m1", "width": 0.125}, "train": {"epochs": 1}},
        "train": {"model": {"width": 0.125, "lstm_units": 4}, "train": {"epochs": 1}},
        "attack": {"limit": 4, "chunk_size": 2, "examples": 1, "slices": {"default": 1, "deepfool": 2},
                   "attacks": {"fgsm": {"eps": 0.5}, "deepfool": {"max_iter": 2}}},
    },
}


def test_every_stage_then_rerun_submits_nothing(tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "run"), "cache": str(cache_dir)}))
    grid = load_grid(path)
    assert {s: len(j) for s, j in grid.jobs.items()} == {
        "features": 1, "tune": 1, "norm_study": 1, "arch_study": 1, "train": 1, "attack": 3}

    runs = submit(grid, executor="local", progress=False)
    assert [(r.stage, r.failures) for r in runs] == [(s, []) for s in grid.stages]
    paths = RunPaths(grid.output)
    plan = read_plan(paths)
    for stage, st in states(paths, plan).items():
        assert st.done == {e.id for e in plan[stage]}, stage
        for job_id in st.done:
            df = pd.read_parquet(paths.shard(stage, job_id))
            assert set(df.job_id) == {job_id} and set(df.stage) == {stage}
            assert {"host", "device", "finished_at"} <= set(df.columns)
    train_id = grid.jobs["train"][0].id
    attacks = pd.concat(pd.read_parquet(paths.shard("attack", j.id)) for j in grid.jobs["attack"])
    assert set(attacks.attack) == {"fgsm", "deepfool"}
    assert (paths.artefacts("train", train_id) / "model.keras").exists()
    assert not paths.error_dir.exists() or not any(paths.error_dir.iterdir())

    mtimes = {p: p.stat().st_mtime_ns for p in paths.root.glob("shards/*/*.parquet")}
    again = submit(grid, executor="local", progress=False)
    assert [r.submitted for r in again] == [0] * len(grid.stages)
    assert {p: p.stat().st_mtime_ns for p in paths.root.glob("shards/*/*.parquet")} == mtimes
