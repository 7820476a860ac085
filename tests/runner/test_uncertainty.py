"""Bootstrap intervals in the reduced tables: the numbers behind T3/T5 equal sercore.stats on the raw rows (whole
recordings resampled, segment-level kept beside them), the grid's `statistics` block is honoured, and the cells
read `mean [lo, hi] ± std (N rec.)`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.reduce.merge import load_run
from runner.reduce.params import ParamKey
from runner.reduce.report import build_tables
from runner.reduce.summary import summarize
from runner.reduce.uncertainty import attack_cis, ci_note, recording_ids, run_settings, with_clean_cis
from sercore.errors import ConfigError
from sercore.stats import StatsSettings, cluster_mean_ci, mean_ci
from tests.runner.fake_run import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    paths = make_run(tmp_path_factory.mktemp("unc") / "run")
    data = load_run(paths.root, progress=False)
    s = summarize(data)
    return paths, data, s, {t.name: t for t in build_tables(data, s)}


def test_attack_intervals_resample_each_seed(run) -> None:
    _, data, s, tables = run
    rows = data.frame("attack")
    best = tables["T05_accuracy_by_gender"].data
    r = best[(best.attack == "fgsm") & (best.dataset == "emodb")].iloc[0]
    sel = rows[(rows.attack == "fgsm") & (rows.dataset == "emodb")
               & (rows.params.map(lambda p: p.replace(" ", "")) == r.params)]
    male = sel[sel.gender == "male"]
    strata = [(g.y_adv == g.y_true).to_numpy(float) for _, g in male.groupby("seed")]
    assert len(strata) == 2
    recs = [("emodb:" + g.path).to_numpy() for _, g in male.groupby("seed")]
    iv = cluster_mean_ci(strata, recs, s.stats)
    assert (r.accuracy_male_mean, r.accuracy_male_lo, r.accuracy_male_hi) == pytest.approx(iv.triple())
    assert (r.ci_unit, r.accuracy_male_n_eff) == ("recording", male.path.nunique())
    assert (r.accuracy_male_seg_lo, r.accuracy_male_seg_hi) == pytest.approx(mean_ci(strata, s.stats)[1:])
    cell = tables["T05_accuracy_by_gender"].display.set_index("attack").loc["FGSM", "EmoDB male"]
    assert cell == f"{iv.estimate:.4f} [{iv.low:.4f}, {iv.high:.4f}] ± {r.accuracy_male_std:.4f} (6 rec.)"
    for name in ("T06_perturbation_by_gender", "T23-T43_fgsm_sweep"):
        assert {"perturbation_lo", "perturbation_hi", "perturbation_n_eff", "perturbation_seg_lo"} <= set(
            tables[name].data.columns)
    assert any("whole source recordings" in n for n in tables["T05_accuracy_by_gender"].notes)


def test_clean_intervals_come_from_the_models_predictions(run) -> None:
    paths, data, s, tables = run
    t3 = tables["T03_clean_accuracy"].data.set_index("dataset")
    train = data.frame("train")
    strata = [pd.read_parquet(paths.artefacts("train", j) / "predictions.parquet") for j in
              train[train.dataset == "emovo"].sort_values("seed").job_id]
    iv = cluster_mean_ci([(p.y_pred == p.y_true).to_numpy(float) for p in strata],
                         [("emovo:" + p.path).to_numpy() for p in strata], s.stats)
    assert t3.loc["emovo", "accuracy_mean"] == pytest.approx(iv.estimate, abs=1e-4)
    assert (t3.loc["emovo", "accuracy_lo"], t3.loc["emovo", "accuracy_hi"]) == pytest.approx((iv.low, iv.high))
    assert t3.loc["emovo", "accuracy_n_eff"] == strata[0].path.nunique()


def test_grid_statistics_block_is_read(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    paths.grid.write_text("name: fake\nstatistics: {resamples: 500, seed: 3, method: percentile}\n")
    assert run_settings(paths) == StatsSettings(resamples=500, seed=3, method="percentile")
    paths.grid.write_text("name: fake\nstatistics: {resamples: 5}\n")
    with pytest.raises(ConfigError, match="statistics"):
        run_settings(paths)
    assert np.isfinite(StatsSettings().confidence)


def _clustered_rows(n_rec: int = 12, per: int = 20) -> pd.DataFrame:
    """Attack rows of one configuration and two seeds: `per` segments (versions x chunks) per recording, every
    segment of a recording with the same outcome, as happens when the augmented copies of a recording agree."""
    rec = np.repeat(np.arange(n_rec), per)
    rows = pd.DataFrame({"recording": [f"emodb:r{r}.wav" for r in rec], "path": [f"r{r}.wav" for r in rec],
                         "gender": np.where(rec % 2 == 0, "male", "female"), "correct": (rec % 3 == 0).astype(float),
                         "fooled": (rec % 3 != 0).astype(float), "clean_correct": 1.0, "perturbation": rec / 10.0})
    key = {"dataset": "emodb", "protocol": "paper", "labels": "predicted", "estimator": "compiled",
           "model_output": "softmax",
           "attack": "fgsm", "params": ParamKey({})}
    return pd.concat([rows.assign(seed=k, **key) for k in (0, 1)], ignore_index=True)


def test_attack_intervals_resample_recordings_not_segments() -> None:
    st = StatsSettings(resamples=1000)
    r = attack_cis(_clustered_rows(), st).iloc[0]
    assert (r.ci_unit, r.accuracy_n_eff, r.accuracy_male_n_eff) == ("recording", 12, 6)
    width, seg_width = r.accuracy_hi - r.accuracy_lo, r.accuracy_seg_hi - r.accuracy_seg_lo
    # 12 recordings of 20 identical segments in both seeds: the segment interval pretends 2 x 240 samples
    assert width > 4 * seg_width
    assert r.accuracy_n_eff_design == pytest.approx(12, rel=0.35)


def test_recording_ids_fall_back_to_path_then_rows() -> None:
    rows = _clustered_rows(3, 2)
    assert recording_ids(rows)[0].iloc[0] == "emodb:r0.wav"
    ids, unit = recording_ids(rows.drop(columns="recording"))
    assert (ids.iloc[0], unit) == ("emodb:r0.wav", "recording")
    ids, unit = recording_ids(rows.drop(columns=["recording", "path"]))
    assert unit == "segment" and ids.nunique() == len(rows)
    assert "segment-level (as the paper" in ci_note(StatsSettings(), "segment")


def test_clean_intervals_use_the_prediction_paths() -> None:
    rows = _clustered_rows(10, 9).assign(job_id=lambda d: d.seed.map({0: "a", 1: "b"}))
    train = pd.DataFrame({"job_id": ["a", "b"], "dataset": ["emodb"] * 2, "seed": [0, 1]})
    stats = pd.DataFrame({"dataset": ["emodb"], "accuracy_mean": [0.4]})
    out = with_clean_cis(stats, train, rows.drop(columns=["recording", "seed"]), ["dataset"],
                         StatsSettings(resamples=500)).iloc[0]
    assert (out.accuracy_n_eff, out.accuracy_female_n_eff) == (10, 5)
    assert out.accuracy_hi - out.accuracy_lo > 2 * (out.accuracy_seg_hi - out.accuracy_seg_lo)
