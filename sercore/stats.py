"""Uncertainty and significance for the report: bootstrap confidence intervals, tests of a difference in
accuracy, Holm's correction and the verdict on the paper's "minor differences".

Two levels (docs/report.md, "Uncertainty"):
- cluster level (the report's intervals): `cluster_mean_ci` resamples whole clusters, i.e. source recordings for
  an accuracy (every segment and augmented version of one recording moves together) and speakers for a group
  difference (`cluster_gap_ci`, `speaker_permutation_test`), and says which unit and how many of them.
- segment level (as the paper; `mean_ci`, `gap_ci`, `difference_p`): test segments treated as independent.

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

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .errors import DataError

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


# ---- cluster level: whole recordings (accuracies) and speakers (group differences) ---------------------------

EXACT_LIMIT = 20_000  # enumerate every relabelling of speakers up to this many; beyond, draw `resamples` of them


@dataclass(frozen=True)
class Interval:
    """An estimate with its CI, the unit the bootstrap resampled and how many of them (the effective n)."""

    estimate: float
    low: float
    high: float
    unit: str  # "recording", "speaker" or "segment"
    n_clusters: int  # distinct clusters resampled (over all strata; per group summed for a difference)
    n_rows: int  # rows (segments) behind the estimate
    n_eff_design: float  # n_rows / design effect (bootstrap variance over the variance if rows were independent)

    def triple(self) -> tuple[float, float, float]:
        return self.estimate, self.low, self.high


def _cluster_matrix(values: Strata, clusters: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per stratum x cluster: the sum of values and the row count (clusters shared across strata share a
    column, so a recording or speaker seen by several seeds is drawn once for all of them)."""
    pairs = [(np.asarray(v, float), np.asarray(c).astype(str)) for v, c in zip(values, clusters, strict=True)]
    for v, c in pairs:
        if len(v) != len(c):
            raise DataError(f"cluster labels: {len(c)} labels for {len(v)} values in one stratum")
    pairs = [(v, c) for v, c in pairs if len(v)]
    names = np.unique(np.concatenate([c for _, c in pairs])) if pairs else np.array([], str)
    sums, counts = np.zeros((len(pairs), len(names))), np.zeros((len(pairs), len(names)))
    for k, (v, c) in enumerate(pairs):
        idx = np.searchsorted(names, c)
        sums[k] = np.bincount(idx, weights=v, minlength=len(names))
        counts[k] = np.bincount(idx, minlength=len(names))
    return sums, counts


def _ratio(sums: np.ndarray, counts: np.ndarray) -> float:
    """Mean over strata of each stratum's mean."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.mean(sums.sum(1) / counts.sum(1))) if len(sums) else float("nan")


def _replicates(sums: np.ndarray, counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the mean over strata of the stratum means, clusters drawn with replacement (a
    count per cluster). A replicate where a stratum drew no rows averages the other strata."""
    n = sums.shape[1]
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    w = np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = (w @ sums.T) / (w @ counts.T)
    ok = np.isfinite(per).any(axis=1)
    return np.nanmean(per[ok], axis=1)


def _limits(reps: np.ndarray, point: float, settings: StatsSettings) -> tuple[float, float]:
    """Percentile limits; `basic` reflects them around the point. BCa has no cluster form here: percentile."""
    tail = (1 - settings.confidence) / 2
    lo, hi = (float(q) for q in np.quantile(reps, [tail, 1 - tail]))
    return (2 * point - hi, 2 * point - lo) if settings.method == "basic" else (lo, hi)


def _srs_variance(sums: np.ndarray, counts: np.ndarray, sq: np.ndarray) -> float:
    """Variance of the estimate if every row were an independent draw (the design effect's denominator)."""
    n = counts.sum(1)
    mean = sums.sum(1) / n
    var = sq.sum(1) / n - mean ** 2
    return float(np.sum(var / n) / len(n) ** 2)


def cluster_mean_ci(values: Strata, clusters: Sequence[np.ndarray], settings: StatsSettings = DEFAULT_STATS,
                    seed: int = 0, unit: str = "recording") -> Interval:
    """The mean over strata (seeds) of each stratum's mean, with a bootstrap CI that resamples whole clusters.

    Rows of one cluster are not independent (one recording's segments and augmented copies), so they are drawn
    together; the effective n is the number of clusters, and `n_eff_design` the rows over the design effect.
    Fewer than two clusters: NaN interval (nothing to resample); no variability at all: [v, v]."""
    sums, counts = _cluster_matrix(values, clusters)
    sq, _ = _cluster_matrix([np.square(np.asarray(v, float)) for v in values], clusters)
    point, n_cl, n_rows = _ratio(sums, counts), int(sums.shape[1]), int(counts.sum())
    nan = float("nan")
    if n_cl < 2:
        return Interval(point, nan, nan, unit, n_cl, n_rows, nan)
    flat = np.concatenate([np.asarray(v, float) for v in values if len(v)])
    if np.all(flat == flat[0]):
        return Interval(point, point, point, unit, n_cl, n_rows, nan)
    reps = _replicates(sums, counts, settings.resamples, np.random.default_rng([settings.seed, seed, 1]))
    srs = _srs_variance(sums, counts, sq)
    deff = float(np.var(reps, ddof=1)) / srs if srs > 0 else nan
    n_eff = n_rows / deff if deff and np.isfinite(deff) else nan
    return Interval(point, *_limits(reps, point, settings), unit, n_cl, n_rows, n_eff)


def cluster_gap_ci(a: Strata, b: Strata, clusters_a: Sequence[np.ndarray], clusters_b: Sequence[np.ndarray],
                   settings: StatsSettings = DEFAULT_STATS, seed: int = 0, unit: str = "speaker") -> Interval:
    """The stratum-averaged difference a - b with a CI that resamples the clusters (speakers) of each group on
    their own; `n_clusters` counts both groups' clusters. Strata where either side is empty are skipped."""
    keep = [k for k, (x, y) in enumerate(zip(a, b, strict=True)) if len(x) and len(y)]
    sa, ca = _cluster_matrix([a[k] for k in keep], [clusters_a[k] for k in keep])
    sb, cb = _cluster_matrix([b[k] for k in keep], [clusters_b[k] for k in keep])
    point = _ratio(sa, ca) - _ratio(sb, cb) if keep else float("nan")
    n_cl, n_rows, nan = sa.shape[1] + sb.shape[1], int(ca.sum() + cb.sum()), float("nan")
    if not keep or sa.shape[1] < 2 or sb.shape[1] < 2:
        return Interval(point, nan, nan, unit, n_cl, n_rows, nan)
    rng = np.random.default_rng([settings.seed, seed, 2])
    ra, rb = _replicates(sa, ca, settings.resamples, rng), _replicates(sb, cb, settings.resamples, rng)
    m = min(len(ra), len(rb))
    reps = ra[:m] - rb[:m]
    if np.all(reps == reps[0]):
        return Interval(point, point, point, unit, n_cl, n_rows, nan)
    return Interval(point, *_limits(reps, point, settings), unit, n_cl, n_rows, nan)


@dataclass(frozen=True)
class SpeakerTest:
    """A permutation test that relabels whole speakers (within blocks) instead of segments."""

    effect: float  # stratum-averaged difference group a - group b
    p: float  # two-sided
    p_min: float  # the smallest p this design can give, whatever the data (1 or 2 relabellings of all)
    relabellings: int  # distinct relabellings of speakers to groups (within blocks)
    exact: bool  # every relabelling enumerated (else `resamples` drawn at random)
    speakers_a: int
    speakers_b: int


def _speaker_matrix(values: np.ndarray, speakers: np.ndarray, strata: np.ndarray) -> tuple[np.ndarray, ...]:
    """(speaker names, sums, counts): per stratum x speaker."""
    names, spk = np.unique(speakers.astype(str), return_inverse=True)
    levels, st = np.unique(strata.astype(str), return_inverse=True)
    sums, counts = np.zeros((len(levels), len(names))), np.zeros((len(levels), len(names)))
    np.add.at(sums, (st, spk), values)
    np.add.at(counts, (st, spk), 1.0)
    return names, sums, counts


def _labels_per_speaker(names: np.ndarray, speakers: np.ndarray, labels: np.ndarray, what: str) -> np.ndarray:
    """One label per speaker; a speaker with two (a gender or corpus that changes) is bad input."""
    pairs = _unique_pairs(speakers.astype(str), labels.astype(str))
    seen: dict[str, str] = {}
    for spk, lab in pairs:
        if seen.setdefault(spk, lab) != lab:
            raise DataError(f"speaker {spk!r} has more than one {what}: a speaker must be in one {what}")
    return np.array([seen[n] for n in names.tolist()])


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> list[tuple[str, str]]:
    """The distinct (a, b) pairs, as plain strings."""
    return sorted({(str(x), str(y)) for x, y in zip(a.tolist(), b.tolist(), strict=True)})


def _statistic(labels: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per relabelling (rows of 0/1 `labels`, 1 = group a): mean over strata of mean(a) - mean(b)."""
    lab = labels.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (lab @ sums.T) / (lab @ counts.T)
        b = ((1 - lab) @ sums.T) / ((1 - lab) @ counts.T)
    return np.nanmean(a - b, axis=1)


def _relabellings(in_a: np.ndarray, blocks: np.ndarray, resamples: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, int, bool]:
    """(0/1 matrix of relabellings, how many exist, enumerated?): within each block, as many speakers in group a
    as observed."""
    groups = [np.flatnonzero(blocks == b) for b in np.unique(blocks)]
    total = math.prod(math.comb(len(g), int(in_a[g].sum())) for g in groups)
    if total <= EXACT_LIMIT:
        per_block = [list(itertools.combinations(g, int(in_a[g].sum()))) for g in groups]
        out = np.zeros((total, len(in_a)), bool)
        for r, pick in enumerate(itertools.product(*per_block)):
            out[r, [i for part in pick for i in part]] = True
        return out, total, True
    drawn: np.ndarray = np.tile(in_a, (resamples, 1))
    for g in groups:
        drawn[:, g] = rng.permuted(drawn[:, g], axis=1)
    return drawn, total, False


def speaker_permutation_test(values: np.ndarray, speakers: np.ndarray, group: np.ndarray, blocks: np.ndarray,
                             strata: np.ndarray, settings: StatsSettings = DEFAULT_STATS,
                             seed: int = 0) -> SpeakerTest:
    """Two-sided test of mean(a) - mean(b) (averaged over strata, e.g. seeds) that permutes the group labels of
    whole speakers within each block (e.g. the genders within a corpus). A speaker is the unit a group claim
    rests on: its segments share a voice. Exact when the relabellings number at most EXACT_LIMIT (5 vs 5
    speakers: 252), else `settings.resamples` random ones. `group`: True for group a, per row."""
    values, group = np.asarray(values, float), np.asarray(group, bool)
    speakers, blocks, strata = np.asarray(speakers), np.asarray(blocks), np.asarray(strata)
    names, sums, counts = _speaker_matrix(values, speakers, strata)
    in_a = _labels_per_speaker(names, speakers, group, "group") == "True"
    spk_block = _labels_per_speaker(names, speakers, blocks, "block")
    n_a, n_b = int(in_a.sum()), int((~in_a).sum())
    if not n_a or not n_b:
        return SpeakerTest(float("nan"), float("nan"), float("nan"), 0, True, n_a, n_b)
    observed = float(_statistic(in_a[None], sums, counts)[0])
    rng = np.random.default_rng([settings.seed, seed, 3])
    labels, total, exact = _relabellings(in_a, spk_block, settings.resamples, rng)
    hits = int(np.sum(np.abs(_statistic(labels, sums, counts)) >= abs(observed) - 1e-12))
    balanced = all(2 * in_a[spk_block == b].sum() == (spk_block == b).sum() for b in np.unique(spk_block))
    p_min = (2 if balanced else 1) / total
    if exact:
        return SpeakerTest(observed, hits / total, p_min, total, True, n_a, n_b)
    p = (1 + hits) / (1 + len(labels))
    return SpeakerTest(observed, p, max(p_min, 1 / (1 + len(labels))), total, False, n_a, n_b)


def too_few_speakers(p_min: float, family_size: int, alpha: float) -> bool:
    """Whether no outcome could reach significance: even the smallest attainable p, times Holm's first-step
    factor (the family size), exceeds alpha. Then the claim cannot be tested with these speakers."""
    return bool(np.isfinite(p_min) and p_min * max(1, family_size) > alpha)
