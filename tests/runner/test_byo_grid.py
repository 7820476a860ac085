"""grids/byo-example.yaml end to end: a CSV-manifest corpus (the synthetic corpus exported) and a model from a
user's factory, through features, training, two attacks and the report, with the local executor; and the model
key's problems reported at grid load, one line each."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from runner.dispatch import submit
from runner.grid import GridError, load_grid
from runner.paths import RunPaths
from sercore.datasets import load_corpus
from sercore.datasets.manifest import export_manifest
from sercore.specs import CorpusSpec

GRID = Path(__file__).resolve().parents[2] / "grids" / "byo-example.yaml"
FACTORY = "examples.byo_model:build"


@pytest.fixture
def byo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worked example's first step: a built-in corpus exported as the user's manifest."""
    corpus = load_corpus(CorpusSpec(name="synthetic", synthetic_per_class=2), tmp_path / "gen")
    export_manifest(corpus, tmp_path / "toy.csv")
    monkeypatch.setenv("BYO_MANIFEST", str(tmp_path / "toy.csv"))
    monkeypatch.setenv("BYO_ROOT", str(corpus.root))
    monkeypatch.setenv("BYO_OUTPUT", str(tmp_path / "run"))
    return tmp_path


def test_bad_model_keys_are_grid_problems(byo_env: Path) -> None:
    bad = byo_env / "bad.yaml"
    bad.write_text(GRID.read_text().replace(FACTORY, "examples.byo_model:nope"))
    with pytest.raises(GridError) as exc:
        load_grid(bad)
    assert exc.value.problems == [f"{bad}: stages.train.model.factory: examples.byo_model has no "
                                  "callable 'nope' (got 'examples.byo_model:nope')"]
    bad.write_text(GRID.read_text().replace(f"factory: {FACTORY}", "file: nowhere/m.keras").replace(
        "params: {units: 8}", "trained: true"))
    with pytest.raises(GridError) as exc:
        load_grid(bad)
    assert exc.value.problems == [f"{bad}: stages.train.model: file 'nowhere/m.keras': no such file (relative "
                                  "paths start where you run the command)"]


@pytest.mark.slow
def test_byo_grid_runs_end_to_end_and_the_report_names_corpus_and_model(byo_env: Path) -> None:
    from runner.reduce.report import reduce_run

    grid = load_grid(GRID)
    assert {s: len(j) for s, j in grid.jobs.items()} == {"features": 1, "train": 1, "attack": 2}
    assert grid.jobs["train"][0].spec.model.factory == FACTORY
    runs = submit(grid, executor="local", progress=False)
    assert [(r.stage, r.failures) for r in runs] == [(s, []) for s in grid.stages]
    paths = RunPaths(grid.output)
    train = pd.read_parquet(paths.shard("train", grid.jobs["train"][0].id))
    assert train.arch.tolist() == [FACTORY] and train.dataset.tolist() == ["toyset"]
    assert train.standardiser.tolist() == ["the protocol's standardiser (fitted on train)"]

    attacks = pd.concat(pd.read_parquet(paths.shard("attack", j.id)) for j in grid.jobs["attack"])
    assert set(attacks.arch) == {FACTORY} and set(attacks.attack) == {"fgsm", "deepfool"}

    report = reduce_run(paths.root, progress=False, audio_limit=0)
    tables = "\n".join(p.read_text(encoding="utf-8") for p in sorted(report.rglob("*.md")))
    assert "toyset" in tables and FACTORY in tables
    clean = (report / "tables" / "T03_clean_accuracy.md").read_text(encoding="utf-8")
    assert f"| {FACTORY} | toyset |" in clean
    assert f"{FACTORY}: your model; inputs standardised by the protocol's standardiser (fitted on train)" in clean
