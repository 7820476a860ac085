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
