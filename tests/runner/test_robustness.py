"""Worst-case robust accuracy on a hand-made set of attack rows: a known union per attack and over all attacks,
by gender, and a clear error when two jobs disagree on what a sample id is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runner.reduce.robustness import ALL, robust_samples, table_worst_case, worst_case
from sercore.errors import DataError
from sercore.stats import StatsSettings

# correct (1) / fooled (0) per sample 0..3 and configuration
OUTCOMES = {("fgsm", '{"eps":0.25}'): [1, 1, 0, 1], ("fgsm", '{"eps":1.0}'): [1, 0, 0, 1],
            ("bim", '{"eps":0.5}'): [1, 1, 1, 0]}
GENDER = ["male", "female", "male", "female"]


def _rows(seed: int = 0, outcomes: dict = OUTCOMES) -> pd.DataFrame:
    frames = []
    for (attack, params), correct in outcomes.items():
        n = len(correct)
        frames.append(pd.DataFrame({"dataset": "emodb", "protocol": "paper", "labels": "predicted",
                                    "estimator": "compiled", "seed": seed, "attack": attack, "params": params,
                                    "sample": np.arange(n), "segment": np.arange(n) + 50, "y_true": np.arange(n) % 3,
                                    "gender": GENDER[:n], "correct": np.asarray(correct, float),
                                    "clean_correct": 1.0}))
    return pd.concat(frames, ignore_index=True)


def test_known_unions() -> None:
    per = robust_samples(_rows()).set_index(["scope", "sample"]).robust
    assert per.loc["fgsm"].tolist() == [1, 0, 0, 1]  # min over its two eps
    assert per.loc["bim"].tolist() == [1, 1, 1, 0]
    assert per.loc[ALL].tolist() == [1, 0, 0, 0]  # only sample 0 survives everything
    wc = worst_case(_rows(), [], StatsSettings()).set_index(["scope", "gender"])
    assert wc.loc[(ALL, "all"), "robust_mean"] == 0.25
    assert wc.loc[(ALL, "male"), "robust_mean"] == 0.5 and wc.loc[(ALL, "female"), "robust_mean"] == 0.0
    assert wc.loc[("fgsm", "all"), "robust_mean"] == 0.5 and wc.loc[("fgsm", "all"), "n"] == 4


def test_seeds_average_and_missing_samples_drop_out() -> None:
    other = {k: v[:3] for k, v in OUTCOMES.items()}  # seed 1 attacked samples 0..2 only
    other[("bim", '{"eps":0.5}')] = [0, 1, 1]
    rows = pd.concat([_rows(0), _rows(1, other)], ignore_index=True)
    wc = worst_case(rows, [], StatsSettings()).set_index(["scope", "gender"])
    # seed 0: 1/4 robust, seed 1: 0/3 -> mean over seeds 0.125
    assert wc.loc[(ALL, "all"), "robust_mean"] == pytest.approx(0.125)
    assert wc.loc[(ALL, "all"), "seeds"] == 2 and wc.loc[(ALL, "all"), "n"] == 3.5
    partial = _rows()
    partial = partial[~((partial.attack == "bim") & (partial["sample"] == 3))]  # bim did not reach sample 3
    per = robust_samples(partial)
    assert sorted(per[per.scope == ALL]["sample"]) == [0, 1, 2]


def test_disagreeing_sample_ids_are_an_error() -> None:
    rows = _rows()
    rows.loc[(rows.attack == "bim") & (rows["sample"] == 2), "segment"] = 999
    with pytest.raises(DataError, match="disagree on test sample"):
        robust_samples(rows)


def test_table_layout() -> None:
    table = table_worst_case(_rows(), [], StatsSettings(), "note")
    assert table is not None and table.name == "R01_worst_case"
    assert list(table.display.columns) == ["dataset", "gender", "clean", "FGSM", "BIM", "all attacks", "samples",
                                           "seeds"]
    assert table.display.iloc[0]["all attacks"].startswith("0.2500 [")
