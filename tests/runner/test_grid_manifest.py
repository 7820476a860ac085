"""Grids with manifest corpora: validated before anything runs, emotions filled in, protocols they cannot serve
refused with the reason, built-in corpora's job ids untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.grid import GridError, load_grid
from sercore.specs import CorpusSpec


def _manifest(tmp_path: Path, header: str = "path,emotion,speaker,gender", rows: tuple[str, ...] = ()) -> str:
    (tmp_path / "audio").mkdir(exist_ok=True)
    rows = rows or ("a.wav,anger,s1,male", "b.wav,fear,s2,female")
    path = tmp_path / "corpus.csv"
    path.write_text("\n".join((header, *rows)) + "\n")
    return str(path)


def _corpus(tmp_path: Path, manifest: str, **kw: object) -> dict[str, object]:
    return {"name": "mycorpus", "manifest": manifest, "root": str(tmp_path / "audio"), **kw}


def test_a_manifest_corpus_expands_with_its_emotions(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid(corpora=[_corpus(tmp_path, _manifest(tmp_path), label_map={"ANG": "anger"})],
                               stages={"features": {}, "train": {"train": {"epochs": 1}}}))
    corpus = grid.jobs["features"][0].spec.corpus
    assert corpus.name == "mycorpus" and corpus.kept_emotions == ("anger", "fear")
    assert {j.spec.data.corpus for j in grid.jobs["train"]} == {corpus}
    assert len(grid.jobs["train"]) == 2 * 2  # protocols paper, clean x seeds 0, 1


def test_manifest_problems_and_the_speaker_protocol_are_grid_problems(make_grid, tmp_path: Path) -> None:
    bad = _manifest(tmp_path, "path,emotion", ("a.wav,anger", "../b.wav,rage"))
    with pytest.raises(GridError) as exc:
        load_grid(make_grid(corpora=[_corpus(tmp_path, bad)], protocols=["paper", "speaker"]))
    problems = exc.value.problems
    assert any(p.startswith(f"{bad}:3: column 'path': leaves the root") for p in problems)
    assert any(p.startswith(f"{bad}:3: column 'emotion': unknown emotion") for p in problems)
    good = _manifest(tmp_path, "path,emotion", ("a.wav,anger", "b.wav,fear"))
    with pytest.raises(GridError) as exc:
        load_grid(make_grid(corpora=[_corpus(tmp_path, good)], protocols=["paper", "speaker"]))
    assert f"{{}}: corpora: mycorpus: protocol 'speaker' needs a speaker column, but {good} has none".format(
        tmp_path / "grid.yaml") in " ".join(exc.value.problems)
    assert any("protocol 'speaker' needs a gender column" in p for p in exc.value.problems)
    train = {"features": {}, "train": {"speaker_independent": True, "train": {"epochs": 1}}}
    with pytest.raises(GridError, match="mycorpus: speaker_independent: true needs a speaker column"):
        load_grid(make_grid(corpora=[_corpus(tmp_path, good)], protocols=["clean"], stages=train))
    with pytest.raises(GridError, match=r"corpora\[0\].manifest: .*missing.csv: manifest file not found"):
        load_grid(make_grid(corpora=[_corpus(tmp_path, str(tmp_path / "missing.csv"))]))
    with pytest.raises(GridError, match=r"corpora\[0\]: .*'cremad' is not built in"):
        load_grid(make_grid(corpora=[{"name": "cremad", "root": str(tmp_path)}]))


def test_built_in_corpora_keep_their_job_ids(make_grid) -> None:
    grid = load_grid(make_grid())
    assert grid.jobs["features"][0].spec.corpus == CorpusSpec(name="synthetic", synthetic_per_class=2)
    assert "manifest" not in grid.jobs["features"][0].spec.canonical_json()


def test_official_folds_need_folds_and_an_official_split_refuses_them(make_grid, tmp_path: Path) -> None:
    folds = _manifest(tmp_path, "path,emotion,fold", ("a.wav,anger,0", "b.wav,fear,1"))
    stages = {"features": {}, "train": {"train": {"epochs": 1}}}
    with pytest.raises(GridError, match="has official folds: the clean protocol runs them with `folds: K`"):
        load_grid(make_grid(corpora=[_corpus(tmp_path, folds)], protocols=["clean"], stages=stages))
    stages["train"]["folds"] = 2
    grid = load_grid(make_grid(corpora=[_corpus(tmp_path, folds)], protocols=["clean"], stages=stages))
    assert sorted(j.spec.data.fold for j in grid.jobs["train"]) == [0, 0, 1, 1]  # 2 folds x 2 seeds
    split = _manifest(tmp_path, "path,emotion,split", ("a.wav,anger,train", "b.wav,fear,val", "c.wav,fear,test"))
    with pytest.raises(GridError, match="has an official split column, which the clean protocol uses; drop"):
        load_grid(make_grid(corpora=[_corpus(tmp_path, split)], protocols=["clean"], stages=stages))
