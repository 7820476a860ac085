"""Uncertainty and significance for the report: bootstrap confidence intervals over test samples, tests of a
difference in accuracy, Holm's correction and the verdict on the paper's "minor differences".

Pure functions on arrays. Every quantity is a mean over *strata* (one stratum per seed, i.e. per trained
model) of the stratum's mean over test samples, so several seeds give one number whose uncertainty comes from
resampling each seed's test set on its own (scipy's multi-sample bootstrap resamples each sample
independently). The spread *between* seeds is reported beside it, as the standard deviation.

Tests (why these, docs/report.md):
- one stratum and 0/1 outcomes: Fisher's exact test on the 2x2 table (correct/wrong x group). It is the exact
  permutation test of that table, valid for the small test sets of one speaker group or the demo.
- several strata: a stratified permutation test: group labels are shuffled within each seed's samples, the
  statistic is the mean over seeds of the difference, so a seed is never compared with another seed's model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Strata = Sequence[np.ndarray]


class StatsSettings(BaseModel):
    """The report's statistics settings (grid key `statistics`); defaults are what the docs describe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resamples: int = Field(2000, ge=100)  # bootstrap and permutation resamples
    seed: int = 0  # seeds every bootstrap / permutation (each call gets its own stream from it)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    # scipy.stats.bootstrap's `method`. percentile by default: BCa's jackknife made one interval over 3 x 837
    # samples cost 2.3 s instead of 0.2 s (shared 2-core machine), too slow for thousands of configurations.
    method: str = Field("percentile", pattern="^(BCa|percentile|basic)$")
    alpha: float = Field(0.05, gt=0, lt=0.5)  # family-wise error rate after Holm's correction
    minor: float = Field(0.05, gt=0, lt=1)  # |difference| below this counts as "minor" (accuracy units)


DEFAULT_STATS = StatsSettings()  # frozen: one shared default for the functions below


def _clean(strata: Strata) -> list[np.ndarray]:
    return [np.asarray(s, dtype=np.float64) for s in strata if len(s)]


def mean_of_means(strata: Strata) -> float:
    """Mean over strata of each stratum's mean; NaN when there is no data."""
    parts = _clean(strata)
    return float(np.mean([p.mean() for p in parts])) if parts else float("nan")


def _bootstrap(samples: list[np.ndarray], statistic: Callable[..., np.ndarray], point: float,
               settings: StatsSettings, seed: int) -> tuple[float, float]:
    """scipy.stats.bootstrap over independent samples; BCa/basic fall back to percentile where undefined."""
    if any(len(s) < 2 for s in samples):
        return float("nan"), float("nan")
    if all(np.all(s == s[0]) for s in samples):  # no variability at all: the interval is the point
        return point, point
    from scipy import stats  # lazy: grid loading imports StatsSettings, not scipy

    rng = np.random.default_rng([settings.seed, seed])
    for method in dict.fromkeys([settings.method, "percentile"]):
        res = stats.bootstrap(samples, statistic, n_resamples=settings.resamples, vectorized=True, axis=-1,
                              confidence_level=settings.confidence, method=method, random_state=rng)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            return lo, hi
    return float("nan"), float("nan")


def mean_ci(strata: Strata, settings: StatsSettings = DEFAULT_STATS, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high): the mean over strata of the per-stratum mean, with its bootstrap CI over samples.
    Strata with fewer than two samples make the CI NaN (nothing to resample)."""
    parts = _clean(strata)
    point = mean_of_means(parts)
    if not parts:
        return point, float("nan"), float("nan")

    def statistic(*xs: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([x.mean(axis=axis) for x in xs], axis=0)

    return (point, *_bootstrap(parts, statistic, point, settings, seed))


def gap(a: Strata, b: Strata) -> float:
    """Mean over strata of mean(a_s) - mean(b_s); strata where either side is empty are skipped."""
    pairs = _pairs(a, b)
    return float(np.mean([x.mean() - y.mean() for x, y in pairs])) if pairs else float("nan")


def _pairs(a: Strata, b: Strata) -> list[tuple[np.ndarray, np.ndarray]]:
    """The strata where both groups have samples, as float arrays."""
    return [(np.asarray(x, float), np.asarray(y, float)) for x, y in zip(a, b, strict=True) if len(x) and len(y)]


def gap_ci(a: Strata, b: Strata, settings: StatsSettings = DEFAULT_STATS,
           seed: int = 0) -> tuple[float, float, float]:
    """(effect, low, high): the stratum-averaged difference a - b with a bootstrap CI that resamples each group
    of each stratum independently (two independent samples per seed)."""
    pairs = _pairs(a, b)
    point = gap(a, b)
    if not pairs:
        return point, float("nan"), float("nan")
    k = len(pairs)
    samples = [x for x, _ in pairs] + [y for _, y in pairs]

    def statistic(*xs: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([xs[i].mean(axis=axis) - xs[k + i].mean(axis=axis) for i in range(k)], axis=0)

    return (point, *_bootstrap(samples, statistic, point, settings, seed))


def fisher_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Fisher exact p for 0/1 outcomes of two independent groups."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    table = [[int(a.sum()), int(len(a) - a.sum())], [int(b.sum()), int(len(b) - b.sum())]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def stratified_permutation_p(a: Strata, b: Strata, resamples: int = 2000, seed: int = 0) -> float:
    """Two-sided p of the stratum-averaged difference a - b under shuffling group labels within each stratum.

    scipy.stats.permutation_test has no strata, hence this: p = (1 + #{|T*| >= |T|}) / (1 + resamples)."""
    pairs = _pairs(a, b)
    if not pairs:
        return float("nan")
    rng = np.random.default_rng(seed)
    observed = abs(gap(a, b))
    total = np.zeros(resamples)
    for x, y in pairs:
        pooled = np.concatenate([x, y])
        perm = rng.permuted(np.tile(pooled, (resamples, 1)), axis=1)
        total += perm[:, :len(x)].mean(axis=1) - perm[:, len(x):].mean(axis=1)
    total /= len(pairs)
    hits = int(np.sum(np.abs(total) >= observed - 1e-12))
    return (1 + hits) / (1 + resamples)


def difference_p(a: Strata, b: Strata, settings: StatsSettings = DEFAULT_STATS, seed: int = 0) -> float:
    """Fisher's exact test for one stratum of 0/1 outcomes, else the stratified permutation test."""
    pairs = _pairs(a, b)
    if not pairs:
        return float("nan")
    binary = all(np.isin(x, (0, 1)).all() and np.isin(y, (0, 1)).all() for x, y in pairs)
    if len(pairs) == 1 and binary:
        return fisher_p(*pairs[0])
    return stratified_permutation_p([x for x, _ in pairs], [y for _, y in pairs], settings.resamples,
                                    int(np.random.SeedSequence([settings.seed, seed]).generate_state(1)[0]))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaNs stay NaN and do not count."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    m = len(order)
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


def verdict(low: float, high: float, p_holm: float, settings: StatsSettings = DEFAULT_STATS) -> str:
    """Does the data support "minor differences"? "Minor" means |difference| < settings.minor; the CI decides
    equivalence (both ends inside ±minor) or a real gap (both ends beyond it); Holm's p decides significance."""
    m = settings.minor
    if np.isnan(low) or np.isnan(high):
        return "no verdict: too few samples for a confidence interval"
    if -m < low and high < m:
        return f"supports 'minor': the whole CI lies within ±{m:g}"
    if low > m or high < -m:
        return f"contradicts 'minor': the whole CI lies beyond ±{m:g}"
    if not np.isnan(p_holm) and p_holm < settings.alpha:
        return f"a real difference (Holm p < {settings.alpha:g}), but the CI reaches inside ±{m:g}: size unclear"
    return f"inconclusive: no significant difference, but the CI reaches beyond ±{m:g}"
