"""Run-folder state (issue 23, item 6): a corrupt run.json is rebuilt, an interrupted --replace-grid is
finished by the next submit, a changed `cache` is applied to run.json too, a bad lock is named, and error text
from files reaches the terminal sanitised. Nothing here deletes a shard."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from runner import runfolder
from runner.cli import main
from runner.locks import holder
from runner.paths import RunPaths
from runner.status import run_status
from tests.reliability.conftest import cli
from tests.runner.conftest import BASE, changed, write_grid

SMALL = changed(BASE, seeds=[0], protocols=["paper"], stages={"features": {}, "train": BASE["stages"]["train"]})

pytestmark = pytest.mark.usefixtures("fake_jobs")


@pytest.fixture
def done(tmp_path: Path, capsys) -> tuple[Path, RunPaths]:
    """(grid file, run folder) of SMALL, submitted once (fake jobs)."""
    grid = write_grid(tmp_path, SMALL)
    assert cli(["submit", grid, "--no-progress"], capsys) == (0, [])
    return grid, RunPaths(tmp_path / "run")


def _files(paths: RunPaths, folder: str, pattern: str = "*") -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in (paths.root / folder).rglob(pattern) if p.is_file()}


def test_corrupt_marker_is_rebuilt_from_the_plan(done, capsys, caplog, fake_jobs) -> None:
    grid, paths = done
    before, shards = json.loads(paths.run_meta.read_text()), _files(paths, "shards", "*.parquet")
    paths.run_meta.write_text('{"grid_hash": "3f9a')  # a truncated write
    fake_jobs.clear()
    with caplog.at_level(logging.WARNING):
        assert cli(["submit", grid, "--no-progress"], capsys) == (0, [])
    (bad,) = (paths.root / "quarantine").glob("run.*.json")
    assert caplog.messages == [f"{paths.run_meta}: not readable JSON (JSONDecodeError: Unterminated string starting "
                               f"at: line 1 column 15 (char 14)); rebuilt from plan/ and grid.yaml (the bad file is "
                               f"kept as quarantine/{bad.name})"]
    after = json.loads(paths.run_meta.read_text())
    assert (after["grid_hash"], after["cache"]) == (before["grid_hash"], before["cache"]) and "rebuilt" in after
    assert fake_jobs == [] and _files(paths, "shards", "*.parquet") == shards  # nothing redone, nothing lost


def test_corrupt_marker_without_a_plan_says_how_and_deletes_nothing(done, capsys) -> None:
    grid, paths = done
    paths.run_meta.write_text("[]")
    shutil.rmtree(paths.plan("x").parent)
    kept = _files(paths, ".")
    code, err = cli(["submit", grid, "--no-progress"], capsys)
    assert (code, err) == (2, [f"error: {paths.run_meta}: not a run marker (no grid_hash), and {paths.root / 'plan'} "
                               "holds no plan to rebuild it from; pass --replace-grid to start a new marker (the bad "
                               "run.json is kept in replaced/; no shard is touched)"])
    assert _files(paths, ".") == kept
    assert cli(["submit", grid, "--no-progress", "--replace-grid"], capsys) == (0, [])
    (old,) = paths.replaced_dir.iterdir()
    assert (old / "run.json").read_text() == "[]"
    assert json.loads(paths.run_meta.read_text())["grid_hash"]


def test_interrupted_replace_grid_is_finished_by_the_next_submit(done, capsys, monkeypatch, tmp_path) -> None:
    _, paths = done
    old_meta = paths.run_meta.read_bytes()
    other = write_grid(tmp_path, changed(SMALL, seeds=[0, 1]), "other.yaml")
    moved: list[str] = []

    def killed_after_one(src: Path, dest: Path) -> None:  # the process dies between two archive steps
        if moved:
            raise KeyboardInterrupt
        moved.append(src.name)
        shutil.move(str(src), dest)

    monkeypatch.setattr(runfolder, "_move", killed_after_one)
    code, err = cli(["submit", other, "--no-progress", "--replace-grid"], capsys)
    assert (code, err) == (130, ["error: interrupted by SIGINT; finished jobs are kept, the same command carries "
                                 "on from them"])
    assert paths.run_meta.read_bytes() == old_meta  # still a run: the old marker stays until the very end
    monkeypatch.setattr(runfolder, "_move", lambda src, dest: shutil.move(str(src), dest))
    assert cli(["submit", other, "--no-progress"], capsys) == (0, [])  # no --replace-grid needed to finish
    (archive,) = paths.replaced_dir.iterdir()
    assert sorted(p.name for p in archive.iterdir()) == ["grid.yaml", "plan", "run.json"]
    assert (archive / "run.json").read_bytes() == old_meta
    assert yaml.safe_load(paths.grid.read_text())["seeds"] == [0, 1]


def test_changed_cache_is_applied_to_run_json_too(done, capsys, caplog, tmp_path) -> None:
    _, paths = done
    old = json.loads(paths.run_meta.read_text())["cache"]
    new = tmp_path / "elsewhere"
    grid = write_grid(tmp_path, changed(SMALL, cache=str(new)))
    with caplog.at_level(logging.WARNING):
        assert cli(["submit", grid, "--no-progress"], capsys) == (0, [])
    assert caplog.messages == [f"{paths.root}: cache changed from {old} to {new}; run.json now names the new one "
                               "(feature stores are rebuilt there when a job needs them)"]
    assert json.loads(paths.run_meta.read_text())["cache"] == str(new)
    assert yaml.safe_load(paths.grid.read_text())["cache"] == str(new)


@pytest.mark.parametrize(("content", "problem"), [
    ('{"attempts": "x"}', "attempts is not a whole number (got 'x')"),  # crashed the job as "(no error file)"
    ("[1]", "not a JSON object (got list)"),
    ("\x00garbage{", "not JSON (starts '?garbage{')"),
])
def test_lock_with_bad_content_is_named_and_rewritten(done, capsys, caplog, content: str, problem: str) -> None:
    grid, paths = done
    job = next(paths.shard_dir("train").glob("*.parquet")).stem
    paths.shard("train", job).unlink()
    lock = paths.lock("train", job)
    lock.write_text(content)
    with caplog.at_level(logging.WARNING):
        assert cli(["submit", grid, "--no-progress"], capsys) == (0, [])
    assert caplog.messages == [f"lock {lock}: bad content ({problem}); rewriting it (the attempt count restarts)"]
    assert holder(lock)["attempts"] == 1 and paths.shard("train", job).exists()


def test_lock_that_cannot_be_opened_is_the_failure_reason(done, capsys) -> None:
    grid, paths = done
    job = next(paths.shard_dir("train").glob("*.parquet")).stem
    paths.shard("train", job).unlink()
    lock = paths.lock("train", job)
    lock.unlink()
    lock.mkdir()
    assert cli(["submit", grid, "--no-progress"], capsys)[0] == 1
    reason = f"LockError: lock {lock}: cannot open (Is a directory); train job {job} cannot run safely"
    assert run_status(paths)["train"]["failures"] == {job: reason}


def test_error_text_is_sanitised_before_printing(done, capsys) -> None:
    _, paths = done
    job = next(paths.shard_dir("train").glob("*.parquet")).stem
    paths.shard("train", job).unlink()
    paths.error_dir.mkdir(exist_ok=True)
    paths.error(job).write_bytes(b"RuntimeError: \x1b[31mred\x1b[0m \x1b]0;title\x07bell\x07 nul\x00\ttab \xff\n\nTb")
    assert run_status(paths)["train"]["failures"] == {job: "RuntimeError: red bell? nul? tab \ufffd"}
    capsys.readouterr()
    assert main(["status", str(paths.root)]) == 1  # a failed job: status exits 1
    printed = capsys.readouterr().out
    assert "RuntimeError: red bell? nul? tab \ufffd" in printed and "\x1b" not in printed and "\x00" not in printed
