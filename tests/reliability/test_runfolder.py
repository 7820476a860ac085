"""Case 1: submit never writes into a folder that is not a run, and never mixes two grids in one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runner.cli import main
from runner.paths import RunPaths
from tests.runner.conftest import BASE, changed, write_grid

# BASE's features and train stages only: the rules are about the folder, not the jobs (fake ones run here).
SMALL = changed(BASE, seeds=[0], protocols=["paper"], stages={"features": {}, "train": BASE["stages"]["train"]})

pytestmark = pytest.mark.usefixtures("fake_jobs")


def test_foreign_folder_is_refused_and_left_untouched(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    (run / "plan").mkdir(parents=True)
    (run / "grid.yaml").write_text("my own notes\n")
    (run / "plan" / "train.jsonl").write_text("my plan\n")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    grid = write_grid(tmp_path, SMALL)
    assert main(["submit", str(grid), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {run}: output folder is not empty and is not a sertack run (no valid run.json; holds "
                   "grid.yaml, plan); choose another `output` or empty it\n")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert main(["submit", str(grid), "--no-progress", "--dry-run"]) == 2  # a dry run says the same


def test_marker_then_other_grid_refused_naming_both(tmp_path: Path, capsys) -> None:
    first = write_grid(tmp_path, SMALL, "first.yaml")
    assert main(["submit", str(first), "--no-progress"]) == 0
    paths = RunPaths(tmp_path / "run")
    meta = json.loads(paths.run_meta.read_text())
    assert {"grid_hash", "grid_file", "sertack", "created"} <= set(meta)
    assert meta["grid_file"] == str(first.absolute())
    frozen = {p: p.read_bytes() for p in (paths.grid, paths.run_meta, *paths.plan("x").parent.iterdir())}

    other = write_grid(tmp_path, changed(SMALL, seeds=[1]), "second.yaml")  # seed 0 dropped: not an extension
    capsys.readouterr()
    assert main(["submit", str(other), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {paths.root}: is a run of grid {first.absolute()} "
                          f"(sha256 {meta['grid_hash'][:12]}), "
                          f"not of {other} (sha256 ")
    assert "pass --replace-grid (the old grid.yaml, run.json and plan/ are kept in replaced/)" in err
    assert err.endswith("grid changes seeds: [0] -> [1]; 1 planned job(s) changed or dropped: "
                        "train synthetic paper seed 0 final w0.25 (dropped)")
    assert {p: p.read_bytes() for p in frozen} == frozen  # nothing replaced, no plan file deleted

    # Same jobs with other resources/executor settings is the same run.
    same = write_grid(tmp_path, changed(SMALL, resources={"default": {"cpus": 2}}), "third.yaml")
    assert main(["submit", str(same), "--no-progress"]) == 0
    assert json.loads(paths.run_meta.read_text())["created"] == meta["created"]

    assert main(["submit", str(other), "--no-progress", "--replace-grid"]) == 0
    (old,) = paths.replaced_dir.iterdir()
    assert (old / "run.json").read_bytes() == frozen[paths.run_meta]
    assert sorted(p.name for p in (old / "plan").iterdir()) == sorted(p.name for p in frozen if p.suffix == ".jsonl")
    assert yaml.safe_load(paths.grid.read_text())["seeds"] == [1]


def test_output_and_cache_pointing_at_files(tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    grid = write_grid(tmp_path, changed(SMALL, cache=str(tmp_path / "afile" / "cache")))
    text = grid.read_text().replace(f"output: {tmp_path / 'run'}", f"output: {tmp_path / 'afile'}")
    grid.write_text(text)
    assert main(["submit", str(grid), "--no-progress"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {grid}: output: {tmp_path / 'afile'} is a file, not a folder (got '{tmp_path / 'afile'}')",
        f"error: {grid}: cache: {tmp_path / 'afile'} is a file, not a folder (got '{tmp_path / 'afile' / 'cache'}')",
    ]
    assert (tmp_path / "afile").read_text() == "x"


def test_run_from_before_the_marker_is_recognised_and_upgraded(tmp_path: Path) -> None:
    grid = write_grid(tmp_path, SMALL)
    assert main(["submit", str(grid), "--no-progress"]) == 0
    paths = RunPaths(tmp_path / "run")
    meta = json.loads(paths.run_meta.read_text())
    legacy = {k: meta[k] for k in ("name", "source", "cache", "stages", "planned_at")}  # the old run.json
    paths.run_meta.write_text(json.dumps(legacy))
    assert main(["submit", str(grid), "--no-progress"]) == 0  # same plan: the same run
    upgraded = json.loads(paths.run_meta.read_text())
    assert upgraded["grid_hash"] == meta["grid_hash"] and upgraded["created"] == legacy["planned_at"]
    other = write_grid(tmp_path, changed(SMALL, seeds=[1]), "other.yaml")  # seed 0 dropped: not an extension
    paths.run_meta.write_text(json.dumps(legacy))
    assert main(["submit", str(other), "--no-progress"]) == 2  # another plan is refused for old runs too
