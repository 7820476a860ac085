"""Attacks on the waveform: SNR budgets, the 16-bit round trip, and rows that the re-read WAVs reproduce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sercore import waveform_attack as wa
from sercore.errors import ConfigError
from sercore.specs import AttackJob
from tests.sercore.synthetic_fixtures import TARGET


def _signal(n: int = 3, size: int = 4800) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(size=(n, size)) * np.array([[0.05], [0.2], [0.5]])[:n], -1, 1).astype(np.float32)


def test_budget_at_the_linf_corner_has_exactly_the_target_snr() -> None:
    x = _signal()
    eps = wa.norm_budget(x, 30.0, "inf")
    delta = np.ones_like(x) * eps[:, None]  # the L-inf ball's loudest point
    np.testing.assert_allclose(wa.snr_db(x, delta), 30.0, atol=1e-4)
    np.testing.assert_allclose(wa.snr_db(x, 0.5 * delta), 30.0 + 20 * np.log10(2), atol=1e-4)
    assert np.isinf(wa.snr_db(x, np.zeros_like(x))).all()


def test_projection_scales_only_perturbations_louder_than_the_budget() -> None:
    x = _signal()
    radius = wa.l2_budget(x, 20.0)
    rng = np.random.default_rng(1)
    delta = rng.normal(size=x.shape).astype(np.float32)
    delta[0] *= 1e-4  # already inside the ball
    out, projected = wa.project_l2(x, x + delta, radius)
    assert projected.tolist() == [False, True, True]
    np.testing.assert_array_equal(out[0], np.clip(x[0] + delta[0], -1, 1))
    assert (wa.snr_db(x, out - x)[1:] >= 20.0 - 1e-3).all()


def test_wav_round_trip_writes_16_bit_files_and_returns_what_they_hold(tmp_path: Path) -> None:
    x = _signal(2)
    heard = wa.wav_round_trip(x, tmp_path, np.array([7, 9]), 16000)
    info = sf.info(tmp_path / "000007.wav")
    assert (info.subtype, info.samplerate) == ("PCM_16", 16000)
    np.testing.assert_array_equal(heard[1], sf.read(tmp_path / "000009.wav", dtype="float32")[0])
    assert 0 < np.abs(heard - x).max() <= 1 / 32768 + 1e-7  # quantised, by at most half a step (rounding)


def test_waveform_specs_are_checked() -> None:
    job = AttackJob(target=TARGET, attack="fgsm", domain="waveform", snr_db=30)
    assert job.job_id != AttackJob(target=TARGET, attack="fgsm").job_id
    assert "domain" not in AttackJob(target=TARGET, attack="fgsm").canonical_json()  # old ids unchanged
    for bad, match in (({"attack": "jsma", "domain": "waveform"}, "no waveform version"),
                       ({"attack": "fgsm", "snr_db": 30}, "needs domain waveform")):
        with pytest.raises((ValueError, ConfigError), match=match):
            AttackJob(target=TARGET, **bad)


def test_rebuilt_waveforms_give_the_stores_features(prepared, cache_dir: Path) -> None:
    import tensorflow as tf

    from sercore.datasets import corpus_root
    from sercore.frontend import features_tf

    prep, _ = prepared
    meta = prep.meta_test.iloc[:3].reset_index(drop=True)
    waves = wa.rebuild_waveforms(meta, corpus_root(TARGET.data.corpus, cache_dir), TARGET.data.features)
    got = features_tf(tf.constant(waves), TARGET.data.features, "original", None, prep.mean, prep.std).numpy()
    assert np.abs(got - prep.x_test[:3, ..., 0]).max() < 1e-4


@pytest.mark.parametrize("attack,params", [("fgsm", {}), ("deepfool", {"max_iter": 2}), ("square", {"max_iter": 5})])
def test_attack_rows_match_the_wavs_read_back(prepared, cache_dir: Path, tmp_path: Path, attack: str,
                                              params: dict) -> None:
    from sercore.datasets import corpus_root
    from sercore.estimator import make_classifier
    from sercore.frontend import waveform_model

    prep, model = prepared
    job = AttackJob(target=TARGET, attack=attack, params=params, domain="waveform", snr_db=30.0, limit=2,
                    chunk_size=2, examples=1)
    rows = wa.attack_waveforms(job, prep, model, corpus_root(TARGET.data.corpus, cache_dir), tmp_path)
    assert len(rows) == 2 and set(rows.domain) == {"waveform"} and (rows.snr_db == 30.0).all()
    assert (rows.snr_db_achieved >= 30.0 - 0.05).all()  # within the budget (16-bit rounding aside)
    measured = rows.pesq_wb.notna() & rows.stoi.notna()  # each a value, or NaN with the reason
    assert (measured | (rows.quality_note != "")).all() and rows.seg_snr_db.notna().all()
    composed = make_classifier(waveform_model(model, TARGET.data.features, "original", None, prep.mean, prep.std),
                               len(prep.classes), (-1.0, 1.0), compiled=False)
    heard = np.stack([sf.read(tmp_path / "wav" / f"{s:06d}.wav", dtype="float32")[0] for s in rows["sample"]])
    assert composed.predict(heard).argmax(axis=1).tolist() == rows.y_adv.tolist()
    with np.load(tmp_path / "examples.npz") as ex:
        assert ex["adversarial"].shape == (1, 48000)
    again = wa.attack_waveforms(job, prep, model, corpus_root(TARGET.data.corpus, cache_dir), tmp_path)
    pd.testing.assert_frame_equal(again.drop(columns="generate_s"), rows.drop(columns="generate_s"))  # resumed


def test_a_logits_model_is_attacked_through_its_logits(prepared, cache_dir: Path, tmp_path: Path) -> None:
    """FGSM's step is the sign of the loss gradient: the same for a model and its logits twin (same weights, no
    softmax layer) when the loss is cross-entropy from logits; a logits model read as probabilities was not."""
    import keras

    from sercore.datasets import corpus_root
    from sercore.specs import ModelSpec

    prep, model = prepared
    twin = keras.Model(model.inputs, model.layers[-2].output)  # the Dense before the Softmax layer
    root = corpus_root(TARGET.data.corpus, cache_dir)
    kw = {"attack": "fgsm", "domain": "waveform", "snr_db": 30.0, "limit": 2, "chunk_size": 2, "examples": 0}
    soft = wa.attack_waveforms(AttackJob(target=TARGET, **kw), prep, model, root, tmp_path / "s")
    logit_target = TARGET.model_copy(update={"model": ModelSpec(output="logits")})
    logits = wa.attack_waveforms(AttackJob(target=logit_target, **kw), prep, twin, root, tmp_path / "l")
    assert (logits.model_output == "logits").all()
    assert logits.y_adv.tolist() == soft.y_adv.tolist() and logits.y_clean.tolist() == soft.y_clean.tolist()
    np.testing.assert_allclose(logits.loss_adv, soft.loss_adv, rtol=1e-4, atol=1e-5)  # probabilities in both


def test_fold_is_a_near_square_image_of_the_same_samples() -> None:
    assert wa.fold_shape(48000) == (200, 240, 1)  # rows <= width: ART's L2 Square tiles 5 x 5 squares of rows // 5
    assert wa.fold_shape(7) == (1, 7, 1)


@pytest.mark.slow  # ~22 s: ART's APGD-CE runs its 100 steps through the stock estimator
def test_autoattack_runs_per_sample_eps_on_the_folded_waveform(prepared, cache_dir: Path, tmp_path: Path) -> None:
    """ART's AutoAttack takes one eps: each sample is attacked with its own SNR budget, inside which it stays."""
    from sercore.datasets import corpus_root
    from sercore.specs import ModelSpec

    prep, model = prepared
    twin = __import__("keras").Model(model.inputs, model.layers[-2].output)  # APGD-DLR needs logits
    target = TARGET.model_copy(update={"model": ModelSpec(output="logits")})
    job = AttackJob(target=target, attack="autoattack", domain="waveform", snr_db=10.0, limit=1, chunk_size=1,
                    examples=0)
    root = corpus_root(TARGET.data.corpus, cache_dir)
    rows = wa.attack_waveforms(job, prep, twin, root, tmp_path)
    x = wa.rebuild_waveforms(prep.meta_test.iloc[:1].reset_index(drop=True), root, TARGET.data.features)
    heard = np.stack([sf.read(tmp_path / "wav" / f"{s:06d}.wav", dtype="float32")[0] for s in rows["sample"]])
    eps = wa.norm_budget(x, 10.0, "inf")
    assert (np.abs(heard - x).max(axis=1) <= eps * (1 + 1e-4) + 1 / 32768).all()  # each its own L-inf ball
    assert (rows.snr_db_achieved >= 10.0 - 0.05).all()
    assert (rows.y_adv != rows.y_clean).any()  # it did attack
