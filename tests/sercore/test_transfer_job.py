"""Transfer jobs: the scaler round trip, replaying a model's own adversarial inputs reproduces its predictions
(the stored float16 deltas are faithful), seen-recording flags, and the spec's pipeline rules."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from sercore import transfer_job as tj
from sercore.attack_job import attack_prepared
from sercore.specs import AttackJob, CorpusSpec, DataSpec, ModelSpec, TrainJob, TransferJob
from sercore.splits import Split
from tests.sercore.attack_fixtures import CLASSES, toy, toy_logits

CORPUS = CorpusSpec(name="synthetic", emotions=CLASSES)


def _train(**kw) -> TrainJob:
    return TrainJob(data=DataSpec(corpus=CORPUS, **kw.pop("data", {})), **kw)


def test_to_target_unstandardises_with_the_source_and_standardises_with_the_target() -> None:
    x = np.full((1, 2, 3), 60.0, np.float32)
    delta = np.full((1, 2, 3), 0.5, np.float32)  # source units: 0.5 source std = 1 dB
    source = (np.full((2, 3), 50.0), np.full((2, 3), 2.0), CLASSES)
    target = (np.full((2, 3), 55.0), np.full((2, 3), 4.0), CLASSES)
    got = tj.to_target(x, delta, source, target)
    assert got.shape == (1, 2, 3, 1)
    assert np.allclose(got, (60.0 + 0.5 * 2.0 - 55.0) / 4.0)
    assert np.allclose(tj.to_target(x, None, source, (None, None, CLASSES)), 60.0)  # unstandardised target


def test_spec_needs_one_source_and_one_pipeline() -> None:
    a = AttackJob(target=_train(), attack="fgsm")
    TransferJob(attacks=(a,), target=_train(data={"seed": 1, "protocol": "speaker"}))
    with pytest.raises(ValidationError, match="same source model"):
        TransferJob(attacks=(a, AttackJob(target=_train(data={"seed": 2}), attack="fgsm")), target=_train())
    with pytest.raises(ValidationError, match="same corpus, features and normalisation"):
        TransferJob(attacks=(a,), target=_train(data={"normalization": "norm_sum"}))
    glob = AttackJob(target=_train(data={"normalization": "norm_max_global"}), attack="fgsm")
    with pytest.raises(ValidationError, match="cannot be transferred"):
        TransferJob(attacks=(glob,),
                    target=_train(data={"normalization": "norm_max_global"}, model=ModelSpec(arch="m0")))


def test_replaying_the_sources_own_examples_reproduces_its_predictions(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data, model = toy()
    source = _train()
    attacks = [AttackJob(target=source, attack=a, params=p, limit=12, chunk_size=4, batch_size=8)
               for a, p in (("fgsm", {"eps": 0.75}), ("deepfool", {"max_iter": 5}))]
    folders = {}
    for a in attacks:
        folders[a.job_id] = tmp_path / a.attack
        attack_prepared(a, data, model, folders[a.job_id])
    n = 1000 + len(data.x_test)
    x = np.zeros((n, *data.x_test.shape[1:3]), np.float32)
    x[1000:] = data.x_test[..., 0]
    meta = pd.DataFrame({"emotion": [CLASSES[i % 3] for i in range(n)],
                         "recording": [f"r{i // 2:04d}" for i in range(n)],
                         "speaker": "s0", "gender": ["male", "female"] * (n // 2), "version": "original"})
    meta.loc[1000:, "emotion"] = [CLASSES[k] for k in data.y_test]
    test = np.arange(1000, n)
    monkeypatch.setattr(tj, "_splits", lambda spec, m, labels: Split(np.arange(0, 1002), np.arange(0, 0), test))
    store = SimpleNamespace(meta=meta, x=x)
    none = (None, None, CLASSES)
    job = TransferJob(attacks=tuple(attacks), target=source)
    rows = tj.transfer_rows(job, model, store, folders, none, none)
    assert len(rows) == 24 and set(rows.attack) == {"fgsm", "deepfool"} and rows["self"].all()
    assert (rows.segment == rows["sample"] + 1000).all()
    fgsm = rows[rows.attack == "fgsm"]
    assert (fgsm.y_adv == fgsm.y_adv_source).mean() == 1.0  # FGSM lands far from the boundary: exact replay
    agreement = (rows.y_adv == rows.y_adv_source).mean()
    assert agreement >= 0.9  # DeepFool stops just past the boundary: float16 may flip a rare one back
    clean = model.predict(data.x_test[:12], verbose=0).argmax(axis=1)
    assert (fgsm.y_clean.to_numpy() == clean).all()
    # the target trained on recordings r0000..r0500 (segments 0..1001): segments 1000 and 1001 = recording r0500
    assert rows.loc[rows.segment.isin([1000, 1001]), "target_seen"].all()
    assert not rows.loc[rows.segment >= 1002, "target_seen"].any()
    assert {"source_model_id", "target_model_id", "target_protocol", "target_study"} <= set(rows.columns)


def test_missing_inputs_are_named(tmp_path: Path) -> None:
    from sercore.env import JobEnv
    from sercore.errors import JobError

    a = AttackJob(target=_train(), attack="fgsm")
    job = TransferJob(attacks=(a,), target=_train(data={"seed": 1}))
    with pytest.raises(JobError, match=f"missing: source, {a.job_id}"):
        tj.run_transfer(job, tmp_path, JobEnv(cache_dir=tmp_path, upstream=tmp_path))


def test_transfer_between_a_logits_and_a_softmax_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples crafted on the logits twin replay on the softmax model and back: the same weights under either
    head give the same predicted classes, so each side's replay equals the other's own attack result."""
    data, soft = toy()
    n = 1000 + len(data.x_test)
    x = np.zeros((n, *data.x_test.shape[1:3]), np.float32)
    x[1000:] = data.x_test[..., 0]
    meta = pd.DataFrame({"emotion": [CLASSES[i % 3] for i in range(n)], "recording": [f"r{i:04d}" for i in range(n)],
                         "speaker": "s0", "gender": ["male", "female"] * (n // 2), "version": "original"})
    meta.loc[1000:, "emotion"] = [CLASSES[k] for k in data.y_test]
    monkeypatch.setattr(tj, "_splits", lambda spec, m, labels: Split(np.arange(0, 1000), np.arange(0, 0),
                                                                     np.arange(1000, n)))
    store, none = SimpleNamespace(meta=meta, x=x), (None, None, CLASSES)
    jobs = {"softmax": _train(), "logits": _train(model=ModelSpec(output="logits"))}
    models = {"softmax": soft, "logits": toy_logits()}
    for src, tgt in (("logits", "softmax"), ("softmax", "logits")):
        attack = AttackJob(target=jobs[src], attack="fgsm", params={"eps": 0.75}, limit=8, chunk_size=4,
                           batch_size=8)
        own = attack_prepared(attack, data, models[src], tmp_path / src)
        rows = tj.transfer_rows(TransferJob(attacks=(attack,), target=jobs[tgt]), models[tgt], store,
                                {attack.job_id: tmp_path / src}, none, none)
        assert (rows.source_output == src).all() and (rows.target_output == tgt).all()
        assert (rows.y_adv.to_numpy() == own.y_adv.to_numpy()).all()
        assert (rows.y_clean.to_numpy() == own.y_clean.to_numpy()).all()
