"""Bootstrap intervals in the reduced tables: the numbers behind T3/T5 equal sercore.stats on the raw rows, the
grid's `statistics` block is honoured, and the cells read `mean [lo, hi] ± std`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.reduce.merge import load_run
from runner.reduce.report import build_tables
from runner.reduce.tables import summarize
from runner.reduce.uncertainty import run_settings
from sercore.errors import ConfigError
from sercore.stats import StatsSettings, mean_ci
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
    est, lo, hi = mean_ci(strata, s.stats)
    assert (r.accuracy_male_mean, r.accuracy_male_lo, r.accuracy_male_hi) == pytest.approx((est, lo, hi))
    assert lo <= est <= hi
    cell = tables["T05_accuracy_by_gender"].display.set_index("attack").loc["FGSM", "EmoDB male"]
    assert cell == f"{est:.4f} [{lo:.4f}, {hi:.4f}] ± {r.accuracy_male_std:.4f}"
    for name in ("T06_perturbation_by_gender", "T23-T43_fgsm_sweep"):
        assert {"perturbation_lo", "perturbation_hi"} <= set(tables[name].data.columns)


def test_clean_intervals_come_from_the_models_predictions(run) -> None:
    paths, data, s, tables = run
    t3 = tables["T03_clean_accuracy"].data.set_index("dataset")
    train = data.frame("train")
    strata = [pd.read_parquet(paths.artefacts("train", j) / "predictions.parquet") for j in
              train[train.dataset == "emovo"].sort_values("seed").job_id]
    est, lo, hi = mean_ci([(p.y_pred == p.y_true).to_numpy(float) for p in strata], s.stats)
    assert t3.loc["emovo", "accuracy_mean"] == pytest.approx(est, abs=1e-4)
    assert (t3.loc["emovo", "accuracy_lo"], t3.loc["emovo", "accuracy_hi"]) == pytest.approx((lo, hi))


def test_grid_statistics_block_is_read(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    paths.grid.write_text("name: fake\nstatistics: {resamples: 500, seed: 3, method: percentile}\n")
    assert run_settings(paths) == StatsSettings(resamples=500, seed=3, method="percentile")
    paths.grid.write_text("name: fake\nstatistics: {resamples: 5}\n")
    with pytest.raises(ConfigError, match="statistics"):
        run_settings(paths)
    assert np.isfinite(StatsSettings().confidence)
