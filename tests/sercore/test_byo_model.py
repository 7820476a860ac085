"""A user's own model: factory and file specs (ids, one-line errors), training a factory model, adopting a trained
file as it is (class order checked, no training)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from examples.byo_model import build
from sercore.data import Prepared
from sercore.errors import ConfigError
from sercore.models import INPUT_SHAPE
from sercore.specs import CorpusSpec, DataSpec, ModelSpec, TrainJob, TrainSettings
from sercore.train import train_prepared

CLASSES = ("anger", "neutral", "sadness")
FACTORY = "examples.byo_model:build"
# How tables name it: the factory and its module's sha256 prefix.
NAMED = f"{FACTORY} sha256:{hashlib.sha256(Path(build.__code__.co_filename).read_bytes()).hexdigest()[:8]}"


@pytest.fixture(scope="module")
def toy() -> Prepared:
    rng = np.random.default_rng(3)

    def split(n: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        y = np.arange(n) % len(CLASSES)
        x = rng.normal(size=(n, *INPUT_SHAPE)).astype(np.float32)
        meta = pd.DataFrame({"path": [f"f{i}.wav" for i in range(n)], "speaker": [f"s{i % 4}" for i in range(n)],
                             "gender": np.where(np.arange(n) % 2 == 0, "male", "female"),
                             "emotion": [CLASSES[k] for k in y], "segment": np.arange(n)})
        return x, y.astype(np.int64), meta

    tr, va, te = split(24), split(9), split(12)
    return Prepared(CLASSES, tr[0], tr[1], va[0], va[1], te[0], te[1], tr[2], va[2], te[2], (-6.0, 7.0),
                    np.zeros((261, 128), np.float32), np.ones((261, 128), np.float32))


def _job(model: ModelSpec, **data: object) -> TrainJob:
    return TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic"), **data), model=model,  # type: ignore[arg-type]
                    train=TrainSettings(epochs=1, batch_size=8, jit_compile=False))


def _save(path: Path, *, shape: tuple[int, ...] = INPUT_SHAPE, logits: bool = False) -> Path:
    build(shape, len(CLASSES), units=4, logits=logits).save(path)
    return path


def _error(**kw: object) -> str:
    with pytest.raises(ValidationError) as info:
        ModelSpec(**kw)  # type: ignore[arg-type]
    return str(info.value)


def test_paper_model_ids_unchanged_and_factory_in_id() -> None:
    assert ModelSpec().canonical_json() == ('{"arch":"final","dropout":0.3,"lstm_dropout":0.2,"lstm_units":256,'
                                            '"width":1.0}')
    a, b = ModelSpec(factory=FACTORY), ModelSpec(factory=FACTORY, params={"units": 8})
    assert len({ModelSpec().job_id, a.job_id, b.job_id}) == 3
    assert b.params == (("units", 8),) and b.label == NAMED and ModelSpec().label == "final"


def test_an_edited_factory_module_is_a_new_job_and_a_stale_spec_stops(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sercore.errors import JobError
    from sercore.models import user_model

    source = (Path(build.__code__.co_filename)).read_text()
    (tmp_path / "mine_byo.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = ModelSpec(factory="mine_byo:build")
    (tmp_path / "mine_byo.py").write_text(source + "\n# edited\n")
    after = ModelSpec(factory="mine_byo:build")
    assert before.job_id != after.job_id and before.factory_sha256 != after.factory_sha256
    with pytest.raises(JobError, match="mine_byo:build': its module changed since the grid was validated"):
        user_model(before, 3)


@pytest.mark.parametrize(("kw", "needle"), [
    ({"factory": "nosuchpkg.mod:build"}, "module 'nosuchpkg.mod' does not import"),
    ({"factory": "examples.byo_model:nothing"}, "has no callable 'nothing'"),
    ({"factory": "examples.byo_model"}, "factory must be 'pkg.module:function'"),
    ({"params": {"units": 8}}, "params go to a factory"),
    ({"trained": True}, "give `file:` too"),
    ({"file": "no/such/model.keras"}, "no such file"),
    ({"factory": FACTORY, "params": {"units": [1, 2]}}, "params.units: factory parameters are scalars"),
])
def test_one_line_errors(kw: dict, needle: str) -> None:
    assert needle in _error(**kw)


def test_file_hash_shape_head_and_classes(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.keras", logits=True)
    spec = ModelSpec(file=str(path))
    assert spec.output == "logits"  # read off the file's last layer
    assert "file_sha256" in json.loads(spec.canonical_json())
    _save(path, logits=True)  # same architecture, new weights: a new file, a new job
    assert ModelSpec(file=str(path)).job_id != spec.job_id
    assert "its last layer emits logits but output is 'softmax'" in _error(file=str(path), output="softmax")
    assert "needs its class order" in _error(file=str(path), trained=True)
    assert ModelSpec(file=str(path), trained=True, classes=CLASSES).classes == CLASSES
    (tmp_path / "m.keras.classes.json").write_text('["anger", "neutral"')
    assert "m.keras.classes.json: not a JSON list of class names" in _error(file=str(path), trained=True)
    (tmp_path / "m.keras.classes.json").write_text('["sadness", "neutral", "anger"]')
    assert "differs from the grid's classes" in _error(file=str(path), trained=True, classes=CLASSES)
    small = _save(tmp_path / "small.keras", shape=(100, 128, 1))
    assert "input shape (100, 128, 1) does not match the features' (261, 128, 1)" in _error(file=str(small))


def test_standardizes_inside_needs_standardiser_off() -> None:
    with pytest.raises(ValidationError, match="set standardize: false"):
        _job(ModelSpec(factory=FACTORY, standardizes_inside=True))


def test_factory_model_trains(toy: Prepared, tmp_path: Path) -> None:
    job = _job(ModelSpec(factory=FACTORY, params={"units": 5}))
    row = train_prepared(job, toy, tmp_path)
    assert row["arch"] == NAMED and row["epochs_run"] == 1 and row["n_test"] == 12
    assert row["standardiser"] == "the protocol's standardiser (fitted on train)" and row["lstm_units"] is None
    import keras

    model = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert model.get_layer("hidden").units == 5


def test_factory_head_must_match_output(toy: Prepared, tmp_path: Path) -> None:
    job = _job(ModelSpec(factory=FACTORY, params={"logits": True}))
    with pytest.raises(ConfigError, match="last layer emits logits but model.output is 'softmax'"):
        train_prepared(job, toy, tmp_path)


def test_trained_file_is_attacked_as_it_is(toy: Prepared, tmp_path: Path) -> None:
    path = _save(tmp_path / "user.keras")
    (tmp_path / "user.keras.classes.json").write_text(json.dumps(list(CLASSES)))
    job = _job(ModelSpec(file=str(path), trained=True, standardizes_inside=True), standardize=False)
    row = train_prepared(job, toy, tmp_path / "out")
    assert row["epochs_run"] == 0 and row["standardiser"] == "the model itself"
    assert row["arch"] == f"user.keras sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:8]} (trained)"
    import keras

    theirs = keras.models.load_model(path, compile=False).predict(toy.x_test, verbose=0)
    preds = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    np.testing.assert_allclose(preds[[f"p_{c}" for c in CLASSES]].to_numpy(), theirs, rtol=1e-5, atol=1e-6)
    (tmp_path / "user.keras.classes.json").write_text(json.dumps(["sadness", "neutral", "anger"]))
    with pytest.raises(ConfigError, match="class order .* differs from the corpus'"):
        train_prepared(job, toy, tmp_path / "again")
    build(INPUT_SHAPE, 5, units=4).save(path)  # a new file: a new spec (its sha256)
    (tmp_path / "user.keras.classes.json").unlink()
    job = _job(ModelSpec(file=str(path), trained=True, classes=CLASSES))
    with pytest.raises(ConfigError, match="user.keras': 5 outputs for 3 classes"):
        train_prepared(job, toy, tmp_path / "five")


def test_untrained_file_is_trained_from_scratch(toy: Prepared, tmp_path: Path) -> None:
    path = _save(tmp_path / "arch.keras")
    row = train_prepared(_job(ModelSpec(file=str(path))), toy, tmp_path / "out")
    assert row["epochs_run"] == 1 and row["arch"].startswith("arch.keras sha256:") and row["n_params"] > 0
