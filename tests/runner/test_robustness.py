"""Worst-case robust accuracy on a hand-made set of attack rows: a known union per attack and over all attacks,
by gender, a repaired sample that is not robust, R02's numbers beside the paper's metric, and a clear error when
two jobs disagree on what a sample id is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runner.reduce.params import decode
from runner.reduce.robustness import (
    ALL,
    PAPER_METRIC,
    robust_by_config,
    robust_samples,
    table_robust_accuracy,
    table_worst_case,
    worst_case,
)
from sercore.errors import DataError
from sercore.stats import StatsSettings

# correct (1) / fooled (0) per sample 0..3 and configuration
OUTCOMES = {("fgsm", '{"eps":0.25}'): [1, 1, 0, 1], ("fgsm", '{"eps":1.0}'): [1, 0, 0, 1],
            ("bim", '{"eps":0.5}'): [1, 1, 1, 0]}
GENDER = ["male", "female", "male", "female"]


def _rows(seed: int = 0, outcomes: dict = OUTCOMES, clean: list[int] | None = None) -> pd.DataFrame:
    """Keyed attack rows; `clean` (1 right / 0 wrong before the attack per sample) defaults to all right."""
    frames = []
    for (attack, params), correct in outcomes.items():
        n = len(correct)
        y_true = np.arange(n) % 3
        right = np.ones(n, bool) if clean is None else np.asarray(clean[:n], bool)
        y_adv = np.where(np.asarray(correct, bool), y_true, (y_true + 1) % 3)
        frames.append(pd.DataFrame({"dataset": "emodb", "protocol": "paper", "labels": "predicted",
                                    "estimator": "compiled",
                                    "model_output": "softmax", "seed": seed, "attack": attack,
                                    "params": decode([params])[params],
                                    "sample": np.arange(n), "segment": np.arange(n) + 50, "y_true": y_true,
                                    "y_clean": np.where(right, y_true, (y_true + 2) % 3), "y_adv": y_adv,
                                    "gender": GENDER[:n], "correct": np.asarray(correct, float),
                                    "clean_correct": right.astype(float)}))
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
    flags = {("emodb", "paper", "predicted", "compiled", "softmax", "bim", '{"eps":0.5}'): "unchanged, gradient",
             ("emodb", "paper", "predicted", "compiled", "softmax", "fgsm", '{"eps":1.0}'): "non_monotone"}
    flagged = table_worst_case(_rows(), [], StatsSettings(), "note", flags)
    assert flagged is not None and flagged.notes[-1].startswith(
        "Attack-failure flags on some configuration (R03): FGSM (non_monotone); BIM (gradient, unchanged).")


def test_a_repaired_sample_is_not_robust() -> None:
    # sample 0 was wrong before every attack and every attack pushed it onto its true class (a repair)
    rows = _rows(clean=[0, 1, 1, 1])
    per = robust_samples(rows).set_index(["scope", "sample"]).robust
    assert per.loc["fgsm"].tolist() == [0, 0, 0, 1]  # the paper's min over configurations said [1, 0, 0, 1]
    assert per.loc[ALL].tolist() == [0, 0, 0, 0]
    wc = worst_case(rows, [], StatsSettings()).set_index(["scope", "gender"])
    assert wc.loc[("bim", "all"), "robust_mean"] == 0.5 and wc.loc[("bim", "all"), "clean_mean"] == 0.75


def test_r02_puts_robust_accuracy_beside_the_paper_metric() -> None:
    rows = _rows(clean=[0, 1, 1, 1])
    cfg = robust_by_config(rows, StatsSettings()).set_index(["attack", "params", "gender"])
    fgsm = cfg.loc[("fgsm", '{"eps":0.25}', "all")]  # correct [1, 1, 0, 1], sample 0 wrong before
    assert fgsm.paper_accuracy == 0.75 and fgsm.robust_accuracy == 0.5 and fgsm.clean_accuracy == 0.75
    assert fgsm.success_on_correct == pytest.approx(1 / 3) and fgsm.repaired == 1 and fgsm.wrong_before == 1
    assert fgsm.broken == 1 and fgsm.n == 4 and fgsm.seeds == 1
    assert fgsm.robust_accuracy_lo <= 0.5 <= fgsm.robust_accuracy_hi
    assert cfg.loc[("fgsm", '{"eps":0.25}', "male"), "robust_accuracy"] == 0.0  # samples 0 (repaired), 2 (fooled)
    flag_key = ("emodb", "paper", "predicted", "compiled", "softmax", "bim", '{"eps":0.5}')
    table = table_robust_accuracy(robust_by_config(rows, StatsSettings()), [], {flag_key: "above_clean"}, "note")
    assert table is not None and table.name == "R02_robust_accuracy"
    first = table.display.iloc[0]
    assert (first.attack, first["paper metric"], first.repaired) == ("FGSM", "0.7500", "1 of 1")
    assert first["robust accuracy"].startswith("0.5000 [")
    assert table.display.set_index("attack").loc["BIM", "flags"] == "above_clean"
    assert PAPER_METRIC in table.notes[0]


def test_attacks_beyond_the_paper_get_their_own_union_and_a_line() -> None:
    outcomes = {**OUTCOMES, ("pgd", '{"eps":0.5}'): [0, 1, 1, 1]}  # PGD breaks sample 0, the one FGSM and BIM left
    per = robust_samples(_rows(outcomes=outcomes)).set_index(["scope", "sample"]).robust
    assert per.loc["paper's attacks"].tolist() == [1, 0, 0, 0]  # FGSM's [1, 0, 0, 1] and BIM's [1, 1, 1, 0]
    assert per.loc["all attacks"].tolist() == [0, 0, 0, 0]
    table = table_worst_case(_rows(outcomes=outcomes), [], StatsSettings(resamples=200), "note")
    assert table is not None and "paper's attacks" in table.display.columns
    line = [n for n in table.notes if n.startswith("emodb: the paper's attacks leave")]
    assert len(line) == 1 and line[0].startswith("emodb: the paper's attacks leave 0.250 [")
    assert "robust; adding PGD leaves 0.000 [0.000, 0.000] (4 seg.)." in line[0]  # rows without a recording id
    assert "paper's attacks" not in table_worst_case(_rows(), [], StatsSettings(resamples=200), "note").display


def test_the_beyond_the_paper_line_by_gender_says_when_speakers_are_too_few() -> None:
    outcomes = {**OUTCOMES, ("pgd", '{"eps":0.5}'): [0, 1, 1, 1]}
    rows = _rows(outcomes=outcomes).assign(speaker=lambda d: "s" + (d["sample"] % 4).astype(str),
                                           path=lambda d: "f" + d["sample"].astype(str) + ".wav")
    notes = table_worst_case(rows, [], StatsSettings(resamples=200), "note").notes  # type: ignore[union-attr]
    # male samples 0, 2: the paper's union [1, 0]; PGD breaks sample 0
    male = [n for n in notes if n.startswith("emodb, male (2 speakers): the paper's attacks leave 0.500 [")]
    assert len(male) == 1 and male[0].endswith("robust; adding PGD leaves 0.000 [0.000, 0.000] (2 rec.).")
    assert any(n.startswith("emodb, female (2 speakers): the paper's attacks leave 0.000 [") for n in notes)
    assert "emodb: male vs female: too few speakers to test: 2 vs 2 speakers allow 6 relabellings, so the smallest " \
           "attainable p is 0.333 > 0.05; no difference between these lines can be significant." in notes
    many = rows.assign(speaker=lambda d: "s" + d["sample"].astype(str))  # 10 vs 10 speakers could be tested
    many = pd.concat([many.assign(sample=many["sample"] + 4 * i, segment=many.segment + 4 * i,
                                  speaker=many.speaker + f"-{i}", path=many.path + f"-{i}") for i in range(5)],
                     ignore_index=True)
    lines = table_worst_case(many, [], StatsSettings(resamples=200), "note").notes  # type: ignore[union-attr]
    assert any(n.startswith("emodb: male vs female: a difference between these lines is a claim about 10 vs 10 "
                            "speakers") for n in lines)
