"""The claims table on hand-made predictions: a known effect and Fisher p, Holm within a family, the verdict's
definition of "minor", the language pair, and per-speaker accuracy that shows who drives a gender gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runner.reduce.claims import claim_rows, table_claims, table_speakers
from runner.reduce.tables import Summary
from sercore.stats import StatsSettings, fisher_p, holm


def _preds(job_id: str, male: tuple[int, int], female: tuple[int, int]) -> pd.DataFrame:
    """(right, total) per gender; two speakers per gender, the first speaker of each gender gets the wrong ones."""
    rows = []
    for gender, (right, total) in (("male", male), ("female", female)):
        for i in range(total):
            rows.append({"job_id": job_id, "gender": gender, "speaker": f"{gender[0]}{i % 2 if i < total - 1 else 1}",
                         "y_true": 0, "y_pred": 0 if i >= total - right else 1})
    df = pd.DataFrame(rows)
    return df.assign(correct=(df.y_pred == df.y_true).astype(float))


def _summary(preds: pd.DataFrame, train: pd.DataFrame, **kw) -> Summary:
    empty = pd.DataFrame()
    return Summary(train=train, attack_seeds=empty, attack_configs=empty, best=empty, attack_incomplete={},
                   train_incomplete={}, variants=[], attack_rows=empty, stats=StatsSettings(resamples=2000, **kw),
                   train_predictions=preds)


def test_gender_claim_has_the_known_effect_and_fisher_p() -> None:
    preds = pd.concat([_preds("a", (8, 10), (1, 6)), _preds("b", (5, 10), (5, 10))], ignore_index=True)
    train = pd.DataFrame({"job_id": ["a", "b"], "dataset": ["emodb", "emovo"], "seed": [0, 0]})
    rows = claim_rows(_summary(preds, train)).set_index(["family", "dataset"])
    emodb = rows.loc[("gender", "emodb")]
    assert emodb.effect == pytest.approx(0.8 - 1 / 6)
    assert emodb.p == pytest.approx(0.03497, abs=1e-5)  # Fisher, table [[8, 2], [1, 5]] (tests/sercore/test_stats)
    assert emodb.lo < emodb.effect < emodb.hi
    lang = rows.loc[("language", "emodb")]
    assert lang.dataset_b == "emovo" and lang.effect == pytest.approx(9 / 16 - 10 / 20)
    a = preds[preds.job_id == "a"].correct.to_numpy()
    b = preds[preds.job_id == "b"].correct.to_numpy()
    assert lang.p == pytest.approx(fisher_p(a, b))


def test_holm_within_family_and_verdicts() -> None:
    preds = pd.concat([_preds("a", (8, 10), (1, 6)), _preds("b", (5, 10), (5, 10))], ignore_index=True)
    train = pd.DataFrame({"job_id": ["a", "b"], "dataset": ["emodb", "emovo"], "seed": [0, 0]})
    table = table_claims(_summary(preds, train))
    df = table.data.set_index(["family", "dataset"])
    gender_p = df.loc["gender"].p.to_numpy()
    assert df.loc["gender"].p_holm.to_numpy() == pytest.approx(holm(gender_p))
    assert df.loc[("language", "emodb")].p_holm == df.loc[("language", "emodb")].p  # a family of one
    assert df.loc[("gender", "emodb")].verdict.startswith("contradicts 'minor'")
    assert df.loc[("gender", "emovo")].verdict.startswith("inconclusive")  # 0 gap, but 10 + 10 samples
    assert list(table.display.columns) == ["claim", "effect", "95% CI", "p", "p (Holm)", "verdict"]
    assert any("< 0.05" in n for n in table.notes)


def test_large_equal_groups_support_minor() -> None:
    preds = _preds("a", (700, 1000), (705, 1000))
    train = pd.DataFrame({"job_id": ["a"], "dataset": ["emodb"], "seed": [0]})
    row = claim_rows(_summary(preds, train, minor=0.05)).iloc[0]
    assert row.hi - row.lo < 0.1
    table = table_claims(_summary(preds, train, minor=0.05))
    assert table.data.verdict.iloc[0].startswith("supports 'minor'")


def test_per_speaker_accuracy_shows_who_drives_the_gap() -> None:
    preds = _preds("a", (8, 10), (1, 6))
    train = pd.DataFrame({"job_id": ["a"], "dataset": ["emodb"], "seed": [0]})
    table = table_speakers(_summary(preds, train))
    data = table.data.set_index("speaker")
    for spk, grp in preds.groupby("speaker"):
        assert data.loc[spk, "accuracy_mean"] == pytest.approx(grp.correct.mean())
        assert data.loc[spk, "gender"] == grp.gender.iloc[0]
    assert set(table.display.columns) >= {"dataset", "speaker", "gender", "samples", "clean"}
    assert np.isfinite(data.accuracy_lo).any()


def test_a_corpus_without_gender_labels_says_so() -> None:
    preds = pd.concat([_preds("a", (8, 10), (1, 6)), _preds("b", (5, 10), (5, 10))], ignore_index=True)
    preds.loc[preds.job_id == "b", "gender"] = "unknown"  # a manifest corpus without a gender column
    train = pd.DataFrame({"job_id": ["a", "b"], "dataset": ["emodb", "mycorpus"], "seed": [0, 0]})
    df = table_claims(_summary(preds, train)).data.set_index(["family", "dataset"])
    assert df.loc[("gender", "mycorpus")].verdict.startswith("no gender labels")
    assert df.loc[("gender", "emodb")].verdict.startswith("contradicts 'minor'")
    assert not df.loc[("language", "emodb")].verdict.startswith("no gender labels")
