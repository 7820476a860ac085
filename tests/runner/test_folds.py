"""Pooling k-fold train rows: accuracy over all test segments, recording-bootstrap CIs, early-best warnings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from runner.reduce.folds import early_best, pool_folds, recording_ci, table_pooled, table_training
from runner.reduce.merge import typed_columns


def _row(fold: int | None, correct: list[int], gender: list[str], protocol: str = "clean", **extra) -> dict:
    recs = [f"f{fold}r{i // 2}" for i in range(len(correct))]  # two segments per recording
    male = [c for c, g in zip(correct, gender, strict=False) if g == "male"]
    female = [c for c, g in zip(correct, gender, strict=False) if g == "female"]
    return {"job_id": f"j{fold}", "study": "final", "dataset": "emodb", "protocol": protocol, "arch": "final",
            "normalization": "original", "standardize": True, "width": 0.25, "seed": 0,
            "folds": None if fold is None else 3, "fold": fold, "monitor": "val_loss",
            "accuracy": float(np.mean(correct)), "accuracy_male": float(np.mean(male)),
            "accuracy_female": float(np.mean(female)), "loss": 1.0 + (fold or 0), "n_test": len(correct),
            "n_test_male": len(male), "n_test_female": len(female), "n_train": 100, "n_val": 20,
            "epochs_run": 12, "best_epoch": 2 + (fold or 0),
            "confusion": json.dumps([[sum(correct), 0], [0, len(correct) - sum(correct)]]),
            "test_composition": json.dumps({"anger": {"male": len(male), "female": len(female)}}),
            "test_outcomes": json.dumps({"recording": recs, "gender": gender, "correct": correct}),
            "curves": json.dumps({"loss": [1.0] * 12, "val_loss": [0.9] * 12, "accuracy": [0.5] * 12,
                                  "val_accuracy": [0.4] * 12}), **extra}


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    out = []
    for fold, n in ((0, 20), (1, 30), (2, 10)):
        correct = rng.integers(0, 2, n).tolist()
        out.append(_row(fold, correct, ["male" if i % 3 == 0 else "female" for i in range(n)]))
    out.append(_row(None, [1, 1, 0, 1], ["male", "male", "female", "female"], protocol="paper"))
    # as merge hands them over: the shard's JSON columns decoded into lists, maps and structs
    return typed_columns(pa.Table.from_pandas(pd.DataFrame(out)), "train").to_pandas(maps_as_pydicts="strict")


def test_pool_folds_pools_over_all_test_segments(rows: pd.DataFrame) -> None:
    pooled = pool_folds(rows)
    assert len(pooled) == 2
    clean = pooled[pooled.protocol == "clean"].iloc[0]
    folds = rows[rows.protocol == "clean"]
    outcomes = pd.concat([pd.DataFrame(t) for t in folds.test_outcomes])
    assert clean["n_test"] == 60 and clean["n_folds"] == 3 and clean["n_test_recordings"] == 30
    assert clean["accuracy"] == pytest.approx(outcomes.correct.mean())  # not the mean of the fold accuracies
    assert clean["accuracy_male"] == pytest.approx(outcomes.correct[outcomes.gender == "male"].mean())
    assert clean["accuracy_ci_low"] <= clean["accuracy"] <= clean["accuracy_ci_high"]
    assert clean["fold_accuracy_min"] == pytest.approx(folds.accuracy.min())
    assert clean["fold_accuracy_std"] == pytest.approx(folds.accuracy.std(ddof=1))
    assert np.array(clean["confusion"]).sum() == 60
    assert clean["test_composition"]["anger"] == {"male": 21, "female": 39} == {
        "male": int(folds.n_test_male.sum()), "female": int(folds.n_test_female.sum())}
    assert clean["best_epoch_folds"] == [2, 3, 4] and pd.isna(clean["fold"])
    paper = pooled[pooled.protocol == "paper"].iloc[0]
    assert paper["n_folds"] == 1 and paper["accuracy"] == 0.75 and paper["n_test_recordings"] == 2


def test_recording_ci_resamples_recordings() -> None:
    # 40 recordings of 5 segments each, all right or all wrong: the CI must be as wide as 40 draws, not 200
    outcomes = pd.DataFrame({"recording": np.repeat(np.arange(40), 5), "correct": np.repeat(np.arange(40) % 2, 5)})
    low, high = recording_ci(outcomes)
    assert low < 0.5 < high and high - low > 0.2
    assert recording_ci(outcomes) == (low, high)  # seeded
    assert np.isnan(recording_ci(outcomes.iloc[:5])[0])  # one recording: no interval


def test_tables_show_ci_and_early_best_warning(rows: pd.DataFrame) -> None:
    pooled = table_pooled(pool_folds(rows))
    assert pooled is not None and len(pooled.display) == 2
    assert "[" in pooled.display.iloc[0]["all"] and pooled.display["test recordings"].tolist() == [2, 30]
    training = table_training(rows, {"j2": 12})
    assert training is not None
    warn = dict(zip(training.display["fold"].astype(str), training.display["warning"], strict=False))
    assert "first few" in warn["0"] and "first few" in warn["1"] and warn["2"] == ""
    assert early_best(3, 12) and not early_best(4, 12) and early_best(9, 90) and not early_best(0, 5)
