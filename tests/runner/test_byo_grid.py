"""grids/byo-example.yaml end to end: two CSV-manifest corpora (the synthetic corpus exported, and 40 real EmoDB
files listed in examples/berlin-mini.csv with their official split) and a model from a user's factory, through
features, training, two attacks and the report, with the local executor; a trained model file attacked as it is
through a grid; and the model key's problems reported at grid load, one line each."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runner.dispatch import submit
from runner.grid import Grid, GridError, load_grid
from runner.labels import labels
from runner.paths import RunPaths
from sercore.datasets import load_corpus
from sercore.datasets.manifest import export_manifest
from sercore.specs import CorpusSpec

REPO = Path(__file__).resolve().parents[2]
GRID = REPO / "grids" / "byo-example.yaml"
FACTORY = "examples.byo_model:build"
# The report's name of the example model: the factory and its module's sha256 prefix.
MODEL = f"{FACTORY} sha256:{hashlib.sha256((REPO / 'examples' / 'byo_model.py').read_bytes()).hexdigest()[:8]}"
TOY_CLASSES = ["boredom", "disgust", "happiness", "neutral", "sadness"]  # the synthetic corpus', sorted


@dataclass
class ByoRun:
    grid: Grid
    paths: RunPaths
    report: Path
    with_emodb: bool
    env: dict[str, str]  # the toyset's BYO_MANIFEST and BYO_ROOT

    def tables(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(self.report.rglob("*.md")))


def _toy(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    """The worked example's first step: a built-in corpus exported as the user's manifest."""
    corpus = load_corpus(CorpusSpec(name="synthetic", synthetic_per_class=2), tmp / "gen")
    export_manifest(corpus, tmp / "toy.csv")
    mp.setenv("BYO_MANIFEST", str(tmp / "toy.csv"))
    mp.setenv("BYO_ROOT", str(corpus.root))
    mp.setenv("BYO_OUTPUT", str(tmp / "run"))
    mp.chdir(REPO)  # the grid's relative paths (examples/berlin-mini.csv) start here, as for a user


def _grid_without_berlin(dest: Path, model: dict | None = None, cache: Path | None = None) -> Path:
    """The shipped grid less its real-EmoDB corpus: what a user without EmoDB runs; with `model`, that model
    attacked by FGSM alone (the cheapest check of a trained file), its features read from `cache`."""
    doc = yaml.safe_load(GRID.read_text())
    doc["corpora"] = [c for c in doc["corpora"] if c["name"] != "berlin"]
    if model is not None:
        doc["stages"]["train"]["model"] = model
        doc["stages"]["attack"]["attacks"] = {"fgsm": doc["stages"]["attack"]["attacks"]["fgsm"]}
    if cache is not None:
        doc["cache"] = str(cache)
    dest.write_text(yaml.safe_dump(doc))
    return dest


def _emodb(request: pytest.FixtureRequest) -> Path | None:
    try:
        return request.getfixturevalue("emodb_root")
    except pytest.skip.Exception:
        return None


@pytest.fixture
def byo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _toy(tmp_path, monkeypatch)
    monkeypatch.setenv("EMODB_ROOT", str(tmp_path))  # loading checks the manifest's text, not its audio
    return tmp_path


@pytest.fixture(scope="module")
def byo_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> ByoRun:
    """The shipped grid submitted and reduced once; without EmoDB, on the synthetic corpus alone."""
    from runner.reduce.report import reduce_run

    tmp, emodb = tmp_path_factory.mktemp("byo"), _emodb(request)
    with pytest.MonkeyPatch.context() as mp:
        _toy(tmp, mp)
        if emodb is not None:
            mp.setenv("EMODB_ROOT", str(emodb))
        grid = load_grid(GRID if emodb is not None else _grid_without_berlin(tmp / "grid.yaml"))
        runs = submit(grid, executor="local", progress=False)
        assert [(r.stage, r.failures) for r in runs] == [(s, []) for s in grid.stages]
        paths = RunPaths(grid.output)
        report = reduce_run(paths.root, progress=False, audio_limit=0)
        env = {k: os.environ[k] for k in ("BYO_MANIFEST", "BYO_ROOT")}
    return ByoRun(grid, paths, report, emodb is not None, env)


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
def test_byo_grid_runs_end_to_end_and_the_report_names_corpus_and_model(byo_run: ByoRun) -> None:
    grid, paths = byo_run.grid, byo_run.paths
    corpora = ["toyset", "berlin"] if byo_run.with_emodb else ["toyset"]
    assert {s: len(j) for s, j in grid.jobs.items()} == {"features": len(corpora), "train": len(corpora),
                                                         "attack": 2 * len(corpora)}
    assert sorted(labels(grid.jobs["train"]).values()) == sorted(f"train {c} clean seed 0 {FACTORY}" for c in corpora)
    train = pd.concat(pd.read_parquet(paths.shard("train", j.id)) for j in grid.jobs["train"])
    assert train.arch.tolist() == [MODEL] * len(corpora) and train.dataset.tolist() == corpora
    assert set(train.standardiser) == {"the protocol's standardiser (fitted on train)"}
    attacks = pd.concat(pd.read_parquet(paths.shard("attack", j.id)) for j in grid.jobs["attack"])
    assert set(attacks.arch) == {MODEL} and set(attacks.attack) == {"fgsm", "deepfool"}

    clean = (byo_run.report / "tables" / "T03_clean_accuracy.md").read_text(encoding="utf-8")
    assert f"| {MODEL} | toyset |" in clean
    assert f"{MODEL}: your model; inputs standardised by the protocol's standardiser (fitted on train)" in clean
    page = (byo_run.report / "README.md").read_text(encoding="utf-8")
    assert f"your model {MODEL} (inputs: the protocol's standardiser (fitted on train))" in page
    html = (byo_run.report / "index.html").read_text(encoding="utf-8")
    assert "the first 8 hex digits of the sha256" in html  # the conventions box says what the model's name is


@pytest.mark.slow
def test_real_emodb_manifest_corpus_with_its_official_split(byo_run: ByoRun) -> None:
    if not byo_run.with_emodb:
        pytest.skip("real EmoDB not found (EMODB_ROOT or ../shared/data/emodb): the byo grid ran on toyset alone")
    manifest = pd.read_csv(REPO / "examples" / "berlin-mini.csv", dtype=str)
    job = next(j for j in byo_run.grid.jobs["train"] if j.spec.data.corpus.name == "berlin")
    row = pd.read_parquet(byo_run.paths.shard("train", job.id)).iloc[0]
    assert json.loads(row.classes) == ["anger", "happiness", "neutral", "sadness"]  # label_map W/F/T/N applied
    assert row.user_split == "your split column honoured"
    preds = pd.read_parquet(byo_run.paths.artefacts("train", job.id) / "predictions.parquet")
    tested = set(manifest[manifest.split == "test"].path)
    assert set(preds.path.map(lambda p: Path(p).name)) == tested and set(preds.speaker) == {"15", "16"}
    clean = (byo_run.report / "tables" / "T03_clean_accuracy.md").read_text(encoding="utf-8")
    assert f"| {MODEL} | berlin |" in clean and "berlin: your split column honoured (clean protocol)" in clean
    assert "berlin: your split column honoured (clean protocol)" in (byo_run.report / "README.md").read_text()


@pytest.mark.slow
def test_a_trained_model_file_is_attacked_as_it_is_through_a_grid(byo_run: ByoRun, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The byo run's toyset model, saved as a user's trained file: refused with a wrong class order, then
    attacked as it is (no training), scoring exactly what it scored when it was trained."""
    for key, value in byo_run.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BYO_OUTPUT", str(tmp_path / "run"))
    monkeypatch.chdir(REPO)
    job = next(j for j in byo_run.grid.jobs["train"] if j.spec.data.corpus.name == "toyset")
    model = tmp_path / "mine.keras"
    shutil.copy(byo_run.paths.artefacts("train", job.id) / "model.keras", model)
    spec = {"file": str(model), "trained": True, "classes": list(reversed(TOY_CLASSES))}
    grid = load_grid(_grid_without_berlin(tmp_path / "wrong.yaml", spec, byo_run.paths.cache))
    runs = {r.stage: r for r in submit(grid, executor="local", progress=False)}
    assert [reason for _, reason in runs["train"].failures] == [
        f"ConfigError: model.file '{model}': its class order {list(reversed(TOY_CLASSES))} differs from the "
        f"corpus' {TOY_CLASSES}"]

    spec["classes"] = TOY_CLASSES
    grid = load_grid(_grid_without_berlin(tmp_path / "right.yaml", spec, byo_run.paths.cache))
    runs = {r.stage: r for r in submit(grid, executor="local", progress=False, replace_grid=True)}
    assert all(not r.failures for r in runs.values()), runs
    paths = RunPaths(grid.output)
    row = pd.read_parquet(paths.shard("train", grid.jobs["train"][0].id)).iloc[0]
    name = f"mine.keras sha256:{hashlib.sha256(model.read_bytes()).hexdigest()[:8]} (trained)"
    assert (row.arch, row.epochs_run, bool(row.byo_trained)) == (name, 0, True)  # not trained: attacked as it is
    assert row.standardiser == "the protocol's standardiser (fitted on train)"  # what T03's note says (above)
    trained = pd.read_parquet(byo_run.paths.shard("train", job.id)).iloc[0]
    assert (row.accuracy, row.n_test) == (trained.accuracy, trained.n_test)  # the same model on the same inputs
    attacks = pd.read_parquet(paths.shard("attack", grid.jobs["attack"][0].id))
    assert set(attacks.arch) == {name} and len(attacks) == 4
