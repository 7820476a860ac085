"""sercore.stats pinned on hand-made data: CIs against the normal approximation, Fisher's p against the
hypergeometric sum, the permutation test against full enumeration, Holm against a hand computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sercore import stats as st

S = st.StatsSettings(resamples=4000, seed=7)


def _binary(n: int, ones: int) -> np.ndarray:
    return np.r_[np.ones(ones), np.zeros(n - ones)]


def test_mean_ci_matches_the_normal_approximation_of_a_proportion() -> None:
    x = _binary(400, 200)  # p = 0.5: Wald half-width 1.96 * sqrt(0.25 / 400) = 0.049
    est, lo, hi = st.mean_ci([x], S)
    assert est == 0.5
    assert lo == pytest.approx(0.5 - 0.049, abs=0.006) and hi == pytest.approx(0.5 + 0.049, abs=0.006)
    assert st.mean_ci([x], S) == (est, lo, hi)  # seeded: the same interval every time
    assert st.mean_ci([x], S, seed=1) != (est, lo, hi)


def test_mean_ci_over_seeds_resamples_each_seed_on_its_own() -> None:
    a, b = _binary(400, 160), _binary(400, 240)  # 0.4 and 0.6: SE of the mean of two = sqrt(2 * .24 / 400) / 2
    est, lo, hi = st.mean_ci([a, b], S)
    half = 1.96 * math.sqrt(2 * 0.24 / 400) / 2  # 0.034; pooling the 800 rows would give 0.048
    assert est == pytest.approx(0.5)
    assert (hi - lo) / 2 == pytest.approx(half, abs=0.005)


def test_degenerate_and_tiny_samples() -> None:
    assert st.mean_ci([np.ones(10)], S) == (1.0, 1.0, 1.0)
    est, lo, hi = st.mean_ci([np.ones(1)], S)
    assert est == 1.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in st.mean_ci([], S))


def test_gap_ci_matches_the_normal_approximation_of_two_proportions() -> None:
    a, b = _binary(500, 350), _binary(500, 250)  # 0.7 - 0.5; SE = sqrt(.21/500 + .25/500) = 0.0303
    est, lo, hi = st.gap_ci([a], [b], S)
    assert est == pytest.approx(0.2)
    assert lo == pytest.approx(0.2 - 0.0595, abs=0.007) and hi == pytest.approx(0.2 + 0.0595, abs=0.007)


def test_fisher_p_equals_the_hypergeometric_sum() -> None:
    a, b = _binary(10, 8), _binary(6, 1)  # table [[8, 2], [1, 5]]
    n, k, ones = 16, 10, 9  # margins: group a has 10 of the 16 samples; 9 samples are correct

    def prob(x: int) -> float:
        return math.comb(ones, x) * math.comb(n - ones, k - x) / math.comb(n, k)
    observed = prob(8)
    expected = sum(prob(x) for x in range(max(0, k + ones - n), min(k, ones) + 1) if prob(x) <= observed * (1 + 1e-7))
    assert st.fisher_p(a, b) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.03497, abs=1e-5)
    assert st.difference_p([a], [b], S) == st.fisher_p(a, b)  # one stratum of 0/1: Fisher


def test_stratified_permutation_p_matches_full_enumeration() -> None:
    a1, b1 = np.array([1.0, 1, 1, 0]), np.array([0.0, 0, 1, 0])
    a2, b2 = np.array([0.9, 0.4, 0.8]), np.array([0.1, 0.3, 0.2])
    observed = abs(st.gap([a1, a2], [b1, b2]))
    pooled1, pooled2 = np.r_[a1, b1], np.r_[a2, b2]
    hits = total = 0
    for i1 in itertools.combinations(range(8), 4):
        m1 = np.isin(np.arange(8), i1)
        g1 = pooled1[m1].mean() - pooled1[~m1].mean()
        for i2 in itertools.combinations(range(6), 3):
            m2 = np.isin(np.arange(6), i2)
            g2 = pooled2[m2].mean() - pooled2[~m2].mean()
            total += 1
            hits += abs((g1 + g2) / 2) >= observed - 1e-12
    exact = hits / total
    p = st.stratified_permutation_p([a1, a2], [b1, b2], resamples=20000, seed=3)
    assert p == pytest.approx(exact, abs=0.01)
    assert st.difference_p([a1, a2], [b1, b2], S) == pytest.approx(exact, abs=0.02)


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, .03, .06, .06
    got = st.holm([0.01, 0.04, 0.03, 0.005, float("nan")])
    assert got[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(got[4])
    assert st.holm([0.6, 0.7]).tolist() == [1.0, 1.0]


def test_verdicts_say_what_minor_means() -> None:
    s = st.StatsSettings(minor=0.05)
    assert st.verdict(-0.02, 0.03, 0.5, s).startswith("supports 'minor'")
    assert st.verdict(0.06, 0.2, 0.001, s).startswith("contradicts 'minor'")
    assert st.verdict(0.01, 0.2, 0.001, s).startswith("a real difference")
    assert st.verdict(-0.1, 0.2, 0.4, s).startswith("inconclusive")
    assert "±0.05" in st.verdict(-0.1, 0.2, 0.4, s)
    assert st.verdict(float("nan"), float("nan"), float("nan"), s).startswith("no verdict")


# ---- cluster level ----------------------------------------------------------------------------------------------

def _clustered(outcomes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`size` identical rows per cluster (a recording whose segments all get the same verdict)."""
    return np.repeat(outcomes.astype(float), size), np.repeat(np.arange(len(outcomes)), size)


def test_cluster_ci_is_sqrt_size_wider_than_the_naive_one_and_covers_the_truth() -> None:
    # truth 0.5; the 10 recordings drawn happen to be 6 right, 4 wrong (estimate 0.6), 50 identical segments each
    values, clusters = _clustered(np.r_[np.ones(6), np.zeros(4)], 50)
    iv = st.cluster_mean_ci([values], [clusters], S)
    _, nlo, nhi = st.mean_ci([values], S)
    assert iv.estimate == pytest.approx(0.6) and (iv.unit, iv.n_clusters, iv.n_rows) == ("recording", 10, 500)
    # cluster: half-width ~ 1.96 sqrt(.24 / 10) = 0.30; naive ~ 1.96 sqrt(.24 / 500) = 0.043: sqrt(50) = 7.1 times
    assert (iv.high - iv.low) / (nhi - nlo) == pytest.approx(math.sqrt(50), rel=0.25)
    assert iv.low < 0.5 < iv.high
    assert not nlo < 0.5 < nhi
    assert iv.n_eff_design == pytest.approx(10, rel=0.2)  # design effect ~ 50: 500 rows count as ~10
    assert st.cluster_mean_ci([values], [clusters], S) == iv  # seeded


def test_cluster_ci_keeps_its_coverage_where_the_naive_one_collapses() -> None:
    rng = np.random.default_rng(11)
    fast = st.StatsSettings(resamples=400, seed=1)
    hit_cluster = hit_naive = 0
    for i in range(100):  # 10 recordings of 50 identical segments, each recording right with probability 0.5
        values, clusters = _clustered(rng.random(10) < 0.5, 50)
        iv = st.cluster_mean_ci([values], [clusters], fast, seed=i)
        _, lo, hi = st.mean_ci([values], fast, seed=i)
        hit_cluster += bool(iv.low <= 0.5 <= iv.high)
        hit_naive += bool(lo <= 0.5 <= hi)
    assert hit_cluster >= 80  # nominal 95 (10 clusters: the percentile bootstrap is a little short)
    assert hit_naive <= 40  # P(|z| < 1.96 / sqrt(50)) = 0.22


def test_singleton_clusters_give_the_segment_interval() -> None:
    x = _binary(400, 200)
    iv = st.cluster_mean_ci([x], [np.arange(400)], S)
    _, lo, hi = st.mean_ci([x], S)
    assert (iv.low, iv.high) == pytest.approx((lo, hi), abs=0.01)
    assert iv.n_clusters == 400 and iv.n_eff_design == pytest.approx(400, rel=0.15)


def test_a_recording_shared_by_two_seeds_is_drawn_once_for_both() -> None:
    values, clusters = _clustered(np.r_[np.ones(6), np.zeros(4)], 5)
    one = st.cluster_mean_ci([values], [clusters], S)
    two = st.cluster_mean_ci([values, values], [clusters, clusters], S)  # same test recordings in both seeds
    assert two.n_clusters == 10
    assert two.high - two.low == pytest.approx(one.high - one.low, abs=0.05)  # not sqrt(2) narrower


def test_cluster_ci_degenerate_cases() -> None:
    iv = st.cluster_mean_ci([np.ones(5)], [np.zeros(5)], S)  # one recording: nothing to resample
    assert iv.estimate == 1.0 and math.isnan(iv.low) and iv.n_clusters == 1
    assert st.cluster_mean_ci([np.ones(6)], [np.arange(6) % 3], S).triple() == (1.0, 1.0, 1.0)
    with pytest.raises(st.DataError, match="labels"):
        st.cluster_mean_ci([np.ones(3)], [np.arange(2)], S)


def test_cluster_gap_ci_resamples_speakers() -> None:
    a, ca = _clustered(np.r_[np.ones(4), np.zeros(1)], 40)  # 5 speakers, 40 identical segments each: 0.8
    b, cb = _clustered(np.r_[np.ones(2), np.zeros(3)], 40)  # 0.4
    iv = st.cluster_gap_ci([a], [b], [ca], [cb + 100], S)
    _, lo, hi = st.gap_ci([a], [b], S)
    assert iv.estimate == pytest.approx(0.4) and (iv.unit, iv.n_clusters) == ("speaker", 10)
    assert (iv.high - iv.low) > 4 * (hi - lo)


def test_speaker_permutation_p_by_hand() -> None:
    # speakers a1, a2 (group a) and b1, b2, two segments each; speaker means 1, 1, 0, 0.5. The 6 relabellings of
    # two speakers to group a give differences ±0.75 (the observed one and its mirror), ±0.25, ±0.25: p = 2/6
    values = np.array([1, 1, 1, 1, 0, 0, 1, 0], float)
    speakers = np.array(["a1", "a1", "a2", "a2", "b1", "b1", "b2", "b2"])
    t = st.speaker_permutation_test(values, speakers, np.char.startswith(speakers, "a"), np.zeros(8), np.zeros(8), S)
    assert t.effect == pytest.approx(0.75)
    assert (t.relabellings, t.exact, t.speakers_a, t.speakers_b) == (6, True, 2, 2)
    assert t.p == pytest.approx(2 / 6) and t.p_min == pytest.approx(2 / 6)
    assert st.too_few_speakers(t.p_min, 1, 0.05)  # 2 vs 2 speakers can never reach 0.05


def test_five_vs_five_speakers_allow_252_relabellings() -> None:
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(10), 30)
    male = speakers < 5
    values = (rng.random(300) < np.where(male, 0.9, 0.3)).astype(float)
    seeds = np.tile([0, 1], 150)
    t = st.speaker_permutation_test(values, speakers, male, np.zeros(300), seeds, S)
    assert (t.relabellings, t.exact) == (252, True)
    assert t.p == pytest.approx(2 / 252) and t.p_min == pytest.approx(2 / 252)  # the most extreme split
    assert not st.too_few_speakers(t.p_min, 1, 0.05)
    assert st.too_few_speakers(t.p_min, 9, 0.05)  # 9 claims: Holm multiplies 0.0079 by 9 = 0.071 > 0.05
    # the segment-level test on the same 300 rows calls this astronomically significant
    assert st.fisher_p(values[male], values[~male]) < 1e-20


def test_permutation_within_blocks_and_by_sampling() -> None:
    rng = np.random.default_rng(1)
    speakers = np.repeat(np.arange(24), 10)
    blocks = np.repeat(np.arange(24) % 2, 10)  # two corpora, 6 + 6 speakers each
    a = np.repeat(np.arange(24) % 4 < 2, 10)
    values = (rng.random(240) < np.where(a, 0.9, 0.2)).astype(float)
    t = st.speaker_permutation_test(values, speakers, a, blocks, np.zeros(240), st.StatsSettings(resamples=999))
    assert t.relabellings == math.comb(12, 6) ** 2 and not t.exact
    assert t.p == pytest.approx(1 / 1000) and t.p_min == pytest.approx(1 / 1000)
    with pytest.raises(st.DataError, match="speaker '0'"):
        st.speaker_permutation_test(values, speakers, rng.random(240) < 0.5, blocks, np.zeros(240), S)
