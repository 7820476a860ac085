"""The claims table on hand-made predictions: speaker-level effect, CI and exact permutation p beside the
segment-level Fisher p (as the paper), Holm within a family, the too-few-speakers verdict, the definition of
"minor", the language pair, and per-speaker accuracy with CIs over recordings."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from runner.reduce.claims import claim_rows, table_claims, table_speakers
from runner.reduce.summary import Summary
from sercore.stats import StatsSettings, fisher_p, holm


def _preds(job_id: str, male: tuple[int, int], female: tuple[int, int]) -> pd.DataFrame:
    """(right, total) per gender; two speakers per gender, the first speaker of each gender gets the wrong ones."""
    rows = []
    for gender, (right, total) in (("male", male), ("female", female)):
        for i in range(total):
            rows.append({"job_id": job_id, "gender": gender, "speaker": f"{gender[0]}{i % 2 if i < total - 1 else 1}",
                         "path": f"{gender[0]}{i}.wav", "y_true": 0, "y_pred": 0 if i >= total - right else 1})
    df = pd.DataFrame(rows)
    return df.assign(correct=(df.y_pred == df.y_true).astype(float))


def _speakers(job_id: str, male: list[float], female: list[float], per: int = 40) -> pd.DataFrame:
    """One speaker per entry (its accuracy), `per` segments each, from per / 4 recordings of 4 segments."""
    rows = []
    for gender, accs in (("male", male), ("female", female)):
        for k, acc in enumerate(accs):
            right = round(acc * per)
            spk = f"{gender[0]}{k}"
            rows += [{"job_id": job_id, "gender": gender, "speaker": spk, "path": f"{spk}-{i // 4}", "y_true": 0,
                      "y_pred": 0 if i < right else 1} for i in range(per)]
    df = pd.DataFrame(rows)
    return df.assign(correct=(df.y_pred == df.y_true).astype(float))


def _summary(preds: pd.DataFrame, train: pd.DataFrame, **kw) -> Summary:
    empty = pd.DataFrame()
    return Summary(train=train, attack_seeds=empty, attack_configs=empty, best=empty, attack_incomplete={},
                   train_incomplete={}, variants=[], attack_rows=empty, stats=StatsSettings(resamples=2000, **kw),
                   train_predictions=preds)


TWO = pd.DataFrame({"job_id": ["a", "b"], "dataset": ["emodb", "emovo"], "seed": [0, 0]})


def test_gender_claim_is_tested_on_speakers_with_the_segment_level_fisher_p_kept() -> None:
    preds = pd.concat([_preds("a", (8, 10), (1, 6)), _preds("b", (5, 10), (5, 10))], ignore_index=True)
    rows = claim_rows(_summary(preds, TWO)).set_index(["family", "dataset"])
    emodb = rows.loc[("gender", "emodb")]
    assert emodb.effect == pytest.approx(0.8 - 1 / 6)
    assert emodb.p_segment == pytest.approx(0.03497, abs=1e-5)  # Fisher, table [[8, 2], [1, 5]] (tests/sercore)
    assert emodb.seg_lo < emodb.effect < emodb.seg_hi
    # 2 vs 2 speakers: 6 relabellings, the observed split and its mirror are the extremes: p = p_min = 2/6
    assert (emodb.ci_unit, emodb.speakers_a, emodb.speakers_b, emodb.relabellings) == ("speaker", 2, 2, 6)
    assert emodb.p_min == pytest.approx(1 / 3) and emodb.p >= emodb.p_min
    lang = rows.loc[("language", "emodb")]
    assert lang.dataset_b == "emovo" and lang.effect == pytest.approx(9 / 16 - 10 / 20)
    a = preds[preds.job_id == "a"].correct.to_numpy()
    b = preds[preds.job_id == "b"].correct.to_numpy()
    assert lang.p_segment == pytest.approx(fisher_p(a, b))
    # corpora permuted within each gender: 2 + 2 male and 2 + 2 female speakers: C(4, 2)^2 = 36 relabellings
    assert (lang.speakers_a, lang.speakers_b, lang.relabellings, lang.exact) == (4, 4, 36, True)


def test_holm_within_family_and_the_too_few_speakers_verdict() -> None:
    preds = pd.concat([_preds("a", (8, 10), (1, 6)), _preds("b", (5, 10), (5, 10))], ignore_index=True)
    table = table_claims(_summary(preds, TWO))
    df = table.data.set_index(["family", "dataset"])
    assert df.loc["gender"].p_holm.to_numpy() == pytest.approx(holm(df.loc["gender"].p.to_numpy()))
    assert df.loc["gender"].p_segment_holm.to_numpy() == pytest.approx(holm(df.loc["gender"].p_segment.to_numpy()))
    assert df.loc[("language", "emodb")].p_holm == df.loc[("language", "emodb")].p  # a family of one
    assert df.loc[("gender", "emodb")].verdict.startswith("too few speakers to test: 2 vs 2 speakers allow 6")
    assert df.too_few.all()
    assert list(table.display.columns) == ["claim", "effect", "95% CI", "unit (n)", "p", "p (Holm)", "verdict",
                                           "segment-level (as the paper): CI, p (Holm)"]
    assert table.display["unit (n)"].iloc[0] == "speakers 2 vs 2"
    assert any("3 claim(s) rest on too few speakers" in n for n in table.notes)


def test_five_vs_five_speakers_exact_p_by_enumeration() -> None:
    male, female = [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]  # whole speakers right or wrong: gap 0.6
    preds = _speakers("a", male, female)
    one = pd.DataFrame({"job_id": ["a"], "dataset": ["emodb"], "seed": [0]})
    table = table_claims(_summary(preds, one))
    r = table.data.iloc[0]
    accs = np.array(male + female, float)
    hits = sum(abs(accs[list(c)].mean() - np.delete(accs, list(c)).mean()) >= 0.6 - 1e-12
               for c in itertools.combinations(range(10), 5))
    assert (r.relabellings, r.exact) == (252, True)
    assert r.p == pytest.approx(hits / 252) and r.p_min == pytest.approx(2 / 252)
    assert r.p_segment < 1e-20  # 200 vs 200 segments: the paper's unit calls it overwhelming
    assert r.p > 0.05 and not r.too_few  # one claim: 5 vs 5 can be tested, and this gap is not significant
    assert r.hi - r.lo > 3 * (r.seg_hi - r.seg_lo)
    assert r.verdict.startswith("inconclusive")


def test_many_speakers_with_equal_accuracy_support_minor() -> None:
    accs = [0.65, 0.7, 0.75] * 10  # speakers differ, genders do not
    one = pd.DataFrame({"job_id": ["a"], "dataset": ["emodb"], "seed": [0]})
    table = table_claims(_summary(_speakers("a", accs, accs), one, minor=0.05))
    r = table.data.iloc[0]
    assert not r.exact and r.p_min < 0.001  # C(60, 30) relabellings: drawn at random
    assert r.effect == pytest.approx(0) and 0 < r.hi - r.lo < 0.1
    assert r.verdict.startswith("supports 'minor'")


def test_per_speaker_accuracy_shows_who_drives_the_gap() -> None:
    preds = _speakers("a", [1.0, 0.5], [0.25, 0.75], per=16)
    train = pd.DataFrame({"job_id": ["a"], "dataset": ["emodb"], "seed": [0]})
    table = table_speakers(_summary(preds, train))
    data = table.data.set_index("speaker")
    for spk, grp in preds.groupby("speaker"):
        assert data.loc[spk, "accuracy_mean"] == pytest.approx(grp.correct.mean())
        assert data.loc[spk, "gender"] == grp.gender.iloc[0]
        assert (data.loc[spk, "recordings"], data.loc[spk, "ci_unit"]) == (4, "recording")
    assert set(table.display.columns) >= {"dataset", "speaker", "gender", "samples", "clean"}
    assert np.isfinite(data.accuracy_lo).any()


def test_a_corpus_without_gender_labels_says_so() -> None:
    preds = pd.concat([_preds("a", (8, 10), (1, 6)), _preds("b", (5, 10), (5, 10))], ignore_index=True)
    preds.loc[preds.job_id == "b", "gender"] = "unknown"  # a manifest corpus without a gender column
    train = pd.DataFrame({"job_id": ["a", "b"], "dataset": ["emodb", "mycorpus"], "seed": [0, 0]})
    df = table_claims(_summary(preds, train)).data.set_index(["family", "dataset"])
    assert df.loc[("gender", "mycorpus")].verdict.startswith("no gender labels")
    assert not df.loc[("gender", "emodb")].verdict.startswith("no gender labels")  # tested (or too few speakers)
    assert not df.loc[("language", "emodb")].verdict.startswith("no gender labels")


def test_attack_claims_count_a_repaired_sample_as_not_robust() -> None:
    """Under an attack the claim's outcome is robust accuracy: a sample wrong before that the attack pushed onto
    its true class is not evidence of robustness (issue 25 item 4)."""
    from runner.reduce import aggregate as agg
    from runner.reduce.claims import conditions
    from runner.reduce.params import ParamKey

    base = _speakers("a", [0.5] * 3, [0.5] * 3).drop(columns="correct")
    rows = base.assign(dataset="emodb", seed=0, protocol="paper", labels="predicted", estimator="compiled",
                       model_output="softmax", attack="fgsm", params=ParamKey({"eps": 0.1}), y_clean=base.y_pred,
                       y_adv=1 - base.y_pred)  # the attack flips every prediction: it repairs every mistake
    rows = rows.assign(correct=(rows.y_adv == rows.y_true).astype(float),
                       clean_correct=(rows.y_clean == rows.y_true).astype(float))
    best = rows[agg.ATTACK_KEYS].drop_duplicates()
    s = Summary(train=pd.DataFrame(), attack_seeds=pd.DataFrame(), attack_configs=best, best=best,
                attack_incomplete={}, train_incomplete={}, variants=[], attack_rows=rows,
                stats=StatsSettings(resamples=200), train_predictions=pd.DataFrame())
    ((_, cond, got, col),) = conditions(s)
    assert (cond, col) == ("fgsm", "robust")
    assert got.correct.mean() == 0.5 and got[col].sum() == 0  # paper metric 0.5, robust 0
