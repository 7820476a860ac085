"""Extending a sweep without --replace-grid: added eps values and seeds are accepted, finished shards kept, the
transfer jobs' re-run said; a changed or removed value still needs --replace-grid, naming the key."""

from __future__ import annotations

import json

import pytest

from runner.cli import main
from runner.extend import grid_diff
from runner.grid import load_grid
from runner.paths import RunPaths
from runner.plan import read_plan
from sercore.errors import ConfigError

GRID = {"name": "x", "seeds": [0], "protocols": ["paper"],
        "corpora": [{"name": "synthetic", "synthetic_per_class": 2}],
        "stages": {"features": {}, "train": {"model": {"width": 0.25}, "train": {"epochs": 1}},
                   "attack": {"limit": 2, "chunk_size": 2, "attacks": {"fgsm": {"eps": [0.25]}}},
                   "transfer": {}}}
EPS = "stages__attack__attacks__fgsm__eps"


def test_added_eps_extends_the_run(make_grid, fake_jobs, capsys) -> None:
    path = make_grid(GRID)
    first = load_grid(path)
    assert main(["submit", str(path), "--no-progress"]) == 0
    paths = RunPaths(first.output)
    created = json.loads(paths.run_meta.read_text())["created"]
    ran = len(fake_jobs)
    capsys.readouterr()
    wider = make_grid(GRID, **{EPS: [0.25, 1.0]})
    assert main(["submit", str(wider), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would extend the run" in out and "  grid: stages.attack.attacks.fgsm.eps: added [1.0]" in out
    assert "  attack: 1 new job(s): synthetic paper seed 0 fgsm eps=1.0" in out
    assert "  transfer: 1 job(s) re-run: attack set grown (+1: fgsm eps=1.0; a transfer job replays" in out
    assert "their old shards move to superseded/transfer/" in out
    assert "why: 1 attack set grown" in out
    assert len(read_plan(paths)["attack"]) == 1  # a dry run changes nothing
    assert main(["submit", str(wider), "--no-progress"]) == 0
    new = load_grid(wider)
    assert fake_jobs[ran:] == [new.jobs["attack"][1].id, new.jobs["transfer"][0].id]  # features/train/attack kept
    assert [e.id for e in read_plan(paths)["attack"]] == [j.id for j in new.jobs["attack"]]
    meta = json.loads(paths.run_meta.read_text())
    assert meta["created"] == created and "extended_at" in meta
    (old,) = paths.replaced_dir.iterdir()  # archived as --replace-grid does
    assert (old / "grid.yaml").is_file() and (old / "plan" / "transfer.jsonl").is_file()
    # the grown transfer job's old shard is superseded, not left outside the plan
    assert [p.name for p in paths.shard_dir("transfer").glob("*.parquet")] == [f"{new.jobs['transfer'][0].id}.parquet"]
    assert any(p.name.startswith(first.jobs["transfer"][0].id) for p in paths.superseded("transfer").iterdir())
    # a second seed adds models, attacks and transfers; the old transfer job is kept as it is
    seeds = make_grid(GRID, seeds=[0, 1], **{EPS: [0.25, 1.0]})
    capsys.readouterr()
    assert main(["submit", str(seeds), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  grid: seeds: added [1]" in out and "  transfer: 3 new job(s)" in out and "re-run" not in out


def test_change_or_removal_needs_replace_grid(make_grid, fake_jobs) -> None:
    path = make_grid(GRID, **{EPS: [0.25, 1.0]})
    grid = load_grid(path)
    paths = RunPaths(grid.output)
    assert main(["submit", str(path), "--no-progress", "--stage", "features"]) == 0
    from runner.dispatch import submit

    fewer = load_grid(make_grid(GRID, **{EPS: [0.25]}))
    with pytest.raises(ConfigError, match=r"--replace-grid.*not an extension: grid changes stages\.attack\.attacks"
                                          r"\.fgsm\.eps: \[0\.25, 1\.0\] -> \[0\.25\]; 2 planned job\(s\) changed or "
                                          r"dropped: attack synthetic paper seed 0 fgsm eps=1\.0 \(dropped\); "
                                          r"transfer .* \(attack set lost fgsm eps=1\.0\)"):
        submit(fewer, dry_run=True, echo=lambda line: None)
    longer = load_grid(make_grid(GRID, **{EPS: [0.25, 1.0]}, stages__train__train__epochs=2))
    with pytest.raises(ConfigError, match=r"stages\.train\.train\.epochs: 1 -> 2; .*train synthetic paper seed 0 "
                                          r"final w0\.25 \(train\.epochs 1 -> 2\)"):
        submit(longer, dry_run=True, echo=lambda line: None)
    assert len(read_plan(paths)["attack"]) == 2  # refused: nothing changed


def test_grid_diff_names_additions_and_changes() -> None:
    old = {"seeds": [0], "a": {"eps": 0.25, "x": 1, "gone": True}}
    new = {"seeds": [0, 1], "a": {"eps": [0.25, 0.5], "x": 2, "new": "y"}}
    assert grid_diff(old, new) == ["seeds: added [1]", "a.eps: added [0.5]", "a.x: 1 -> 2",
                                   "a.gone: removed (was true)", 'a.new: added "y"']
