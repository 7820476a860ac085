"""Re-synthesis keeps a clean segment's features close and its shape, and refuses what it cannot invert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runner.reduce.resynthesis_tables import resynthesis_cells
from sercore import features
from sercore import normalize as nz
from sercore.resynthesis import resynthesised
from sercore.specs import AttackJob, FeatureSettings
from sercore.stats import StatsSettings
from tests.sercore.synthetic_fixtures import TARGET


def _speechlike(n: int = 2) -> np.ndarray:
    t = np.arange(48000) / 16000
    return np.stack([0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t))
                     for i in range(n)]).astype(np.float32)


def test_round_trip_gives_model_inputs_close_to_the_originals() -> None:
    fs = FeatureSettings()
    x = features.log_mel(_speechlike())
    mean, std = nz.cell_stats(x)
    xs = nz.standardize(x.copy(), mean, std)[..., None]
    back = resynthesised(xs, fs, "original", mean, std)
    assert back.shape == xs.shape and np.isfinite(back).all()
    # The paper's dB is relative to the segment's quietest cell, which Griffin-Lim's residual noise moves: each
    # segment shifts by one offset (tens of dB on a pure tone), with its shape kept around it.
    diff = (back[..., 0] * std + mean) - x
    for d in diff:
        spread = np.abs(d - np.median(d))
        assert np.median(spread) < 0.5 and np.percentile(spread, 90) < 3.0  # dB
    assert np.abs(diff).max() > 1e-3  # not the identity


def test_other_normalisations_are_refused() -> None:
    with pytest.raises(ValueError, match="normalization original"):
        resynthesised(np.zeros((1, 261, 128, 1), np.float32), FeatureSettings(), "norm_sum", None, None)


def test_attack_job_judges_the_first_samples_of_each_chunk_as_sound(prepared, tmp_path: Path, caplog) -> None:
    from sercore.attack_job import attack_prepared

    prep, model = prepared
    job = AttackJob(target=TARGET, attack="fgsm", params={"eps": 1.0}, limit=3, chunk_size=2, examples=0, resynth=1)
    rows = attack_prepared(job, prep, model, tmp_path / "on").set_index("sample")
    assert (rows.loc[[1], ["y_clean_resynth", "y_adv_resynth"]] == -1).all().all()  # not the chunk's first
    x = np.asarray(prep.x_test[[0, 2]], np.float32)
    want = model.predict(resynthesised(x, TARGET.data.features, "original", prep.mean, prep.std), verbose=0)
    np.testing.assert_array_equal(rows.loc[[0, 2], "y_clean_resynth"], want.argmax(axis=1))
    assert (rows.loc[[0, 2], "y_adv_resynth"] >= 0).all()
    cells = resynthesis_cells(rows.reset_index(), StatsSettings(resamples=100))  # the job's rows feed W02 as they are
    assert cells.n.tolist() == [2] and cells.ci_unit.tolist() == ["recording"]
    off = attack_prepared(job.model_copy(update={"resynth": 0}), prep, model, tmp_path / "off")
    assert "y_adv_resynth" not in off and (off.y_adv.to_numpy() == rows.y_adv.to_numpy()).all()
    # A normalisation the inversion cannot undo: the columns say "not checked", and the log says why.
    other = job.model_copy(update={"target": TARGET.model_copy(update={
        "data": TARGET.data.model_copy(update={"normalization": "norm_sum"})})})
    assert (attack_prepared(other, prep, model, tmp_path / "sum").y_adv_resynth == -1).all()
    assert "normalisation norm_sum cannot be inverted" in caplog.text


def test_resynth_is_a_late_field_and_a_grid_option() -> None:
    from runner.expand import ATTACK_OPTIONS

    job = AttackJob(target=TARGET, attack="fgsm")
    assert "resynth" not in job.canonical_json()  # existing job ids hold
    assert job.model_copy(update={"resynth": 4}).model_dump()["resynth"] == 4
    assert AttackJob(target=TARGET, attack="fgsm", resynth=4).job_id != job.job_id
    assert "resynth" in ATTACK_OPTIONS
