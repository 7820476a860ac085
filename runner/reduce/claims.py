"""The paper's comparisons as tests, and per-speaker accuracy.

C01 "claim | effect | 95 % CI | p | verdict": the paper concludes "minor differences between the languages and
between male and female speech". Each row tests one such difference in accuracy: male - female per dataset,
clean and under each attack's best configuration; and dataset A - dataset B for every pair of corpora the run
has. Effect and CI: sercore.stats.gap_ci (seeds as strata); p: Fisher's exact test (one seed) or the stratified
permutation test (several); Holm's correction within each family (gender, language). The verdict applies the
definition of "minor" in sercore.stats.verdict (|difference| < `statistics.minor`, default 0.05).

S01: accuracy per speaker (clean, and under each attack's best configuration), so a reader sees whether one
speaker drives a gender gap.
"""

from __future__ import annotations

import itertools
from typing import cast

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.stats import StatsSettings, difference_p, gap_ci, holm, mean_ci, verdict

from . import aggregate as agg
from .render import Table
from .tables import Summary

CLEAN = "clean"


def by_seed(rows: pd.DataFrame, column: str) -> dict[int, np.ndarray]:
    return {int(cast(int, k)): g[column].to_numpy(float) for k, g in rows.groupby("seed", sort=True)}


def conditions(s: Summary) -> list[tuple[dict, str, pd.DataFrame, str]]:
    """(variant values, condition label, per-sample rows with `seed`, `gender`, `speaker`, `dataset`, outcome
    column): clean (the final models' test predictions) and each attack's best configuration per dataset."""
    out: list[tuple[dict, str, pd.DataFrame, str]] = []
    preds = s.train_predictions
    if not preds.empty and not s.train.empty:
        train_vars = [v for v in s.variants if v in s.train]
        info = s.train.set_index("job_id")[["dataset", "seed", *train_vars]]
        clean = preds.drop(columns=[c for c in ("dataset", "seed") if c in preds]).join(info, on="job_id")
        for vkey, grp in (clean.groupby(train_vars, sort=True) if train_vars else [((), clean)]):
            vkey = vkey if isinstance(vkey, tuple) else (vkey,)
            out.append((dict(zip(train_vars, vkey, strict=True)), CLEAN, grp, "correct"))
    if not s.best.empty and not s.attack_rows.empty:
        rows = s.attack_rows
        key_text = rows[agg.ATTACK_KEYS].astype(str).agg("|".join, axis=1)
        picked = s.best[agg.ATTACK_KEYS].astype(str).agg("|".join, axis=1)
        chosen = rows[key_text.isin(set(picked))]
        for vkey, grp in (chosen.groupby(s.variants, sort=True) if s.variants else [((), chosen)]):
            vkey = vkey if isinstance(vkey, tuple) else (vkey,)
            for attack in sorted(grp.attack.unique(), key=vocab.attack_rank):
                out.append((dict(zip(s.variants, vkey, strict=True)), attack, grp[grp.attack == attack], "correct"))
    return out


NO_GENDER_LABELS = "no gender labels: no male or female speaker in these test sets"


def paired(sa: dict[int, np.ndarray], sb: dict[int, np.ndarray]) -> tuple[list, list]:
    """Per-seed strata of two independent groups (corpora, protocols), paired by seed where both have it, else
    by order: each pair is one stratum of the stratified bootstrap / permutation test."""
    common = sorted(set(sa) & set(sb))
    if common:
        return [sa[k] for k in common], [sb[k] for k in common]
    n = min(len(sa), len(sb))
    return [sa[k] for k in sorted(sa)][:n], [sb[k] for k in sorted(sb)][:n]


def _variant_text(v: dict) -> str:
    return ", ".join(f"{k}={val}" for k, val in v.items())


def _condition_text(cond: str) -> str:
    return "clean" if cond == CLEAN else f"under {vocab.ATTACK_DISPLAY.get(cond, cond)} (best configuration)"


def claim_rows(s: Summary) -> pd.DataFrame:
    """One row per tested difference: family, claim, effect, lo, hi, p, n_a, n_b, seeds (p_holm added later)."""
    st: StatsSettings = s.stats
    out = []
    for i, (variant, cond, rows, col) in enumerate(conditions(s)):
        prefix = f"{_variant_text(variant)}: " if variant else ""
        datasets = sorted(rows.dataset.unique(), key=vocab.corpus_rank)
        for d in datasets:
            sub = rows[rows.dataset == d]
            male, female = (by_seed(sub[sub.gender.astype(str) == g], col) for g in ("male", "female"))
            seeds = sorted(set(male) & set(female))
            a, b = [male[k] for k in seeds], [female[k] for k in seeds]
            effect, lo, hi = gap_ci(a, b, st)
            out.append({**variant, "family": "gender", "condition": cond, "dataset": d, "dataset_b": None,
                        "claim": f"{prefix}{vocab.CORPUS_DISPLAY.get(d, d)} {_condition_text(cond)}: male − female "
                                 "accuracy", "effect": effect, "lo": lo, "hi": hi,
                        "p": difference_p(a, b, st, seed=2 * i), "n_a": sum(map(len, a)), "n_b": sum(map(len, b)),
                        "seeds": len(seeds)})
        for da, db in itertools.combinations(datasets, 2):
            sa, sb = by_seed(rows[rows.dataset == da], col), by_seed(rows[rows.dataset == db], col)
            a, b = paired(sa, sb)
            effect, lo, hi = gap_ci(a, b, st)
            out.append({**variant, "family": "language", "condition": cond, "dataset": da, "dataset_b": db,
                        "claim": f"{prefix}{_condition_text(cond)}: {vocab.CORPUS_DISPLAY.get(da, da)} − "
                                 f"{vocab.CORPUS_DISPLAY.get(db, db)} accuracy", "effect": effect, "lo": lo, "hi": hi,
                        "p": difference_p(a, b, st, seed=2 * i + 1), "n_a": sum(map(len, a)),
                        "n_b": sum(map(len, b)), "seeds": len(a)})
    return pd.DataFrame(out)


def table_claims(s: Summary) -> Table | None:
    """C01: every comparison behind "minor differences", Holm-corrected within its family, with a verdict."""
    df = claim_rows(s)
    if df.empty:
        return None
    df["p_holm"] = np.nan
    for _, idx in df.groupby("family").groups.items():
        df.loc[idx, "p_holm"] = holm(df.loc[idx, "p"].to_numpy())
    df["verdict"] = [verdict(float(lo), float(hi), float(p), s.stats)
                     for lo, hi, p in zip(df["lo"], df["hi"], df["p_holm"], strict=True)]
    # A corpus without gender labels (a manifest without a gender column) has no male or female sample at all.
    df.loc[(df.family == "gender") & (df.n_a == 0) & (df.n_b == 0), "verdict"] = NO_GENDER_LABELS
    fam_order = {"gender": 0, "language": 1}
    df = df.sort_values("family", key=lambda c: c.map(fam_order), kind="mergesort").reset_index(drop=True)

    def num(v: float, spec: str) -> str:
        return "–" if pd.isna(v) else format(v, spec)
    display = pd.DataFrame({
        "claim": df.claim, "effect": df.effect.map(lambda v: num(v, "+.4f")),
        f"{s.stats.confidence:.0%} CI": [f"[{num(lo, '+.4f')}, {num(hi, '+.4f')}]"
                                         for lo, hi in zip(df.lo, df.hi, strict=True)],
        "p": df.p.map(lambda v: num(v, ".3g")), "p (Holm)": df.p_holm.map(lambda v: num(v, ".3g")),
        "verdict": df.verdict})
    display.attrs["labels"] = 1
    m = s.stats.minor
    return Table("C01_claims", "The paper's comparisons as tests: does the data support \"minor differences\"?",
                 display, df,
                 [f"'Minor' means |difference in accuracy| < {m:g}: supported when the whole {s.stats.confidence:.0%} "
                  f"CI lies inside ±{m:g} (an equivalence test), contradicted when it lies wholly beyond.",
                  "Effect: mean over seeds of the per-seed difference; CI: bootstrap over test samples, each group of "
                  "each seed resampled on its own.",
                  "p: Fisher's exact test (one seed) or a permutation test with labels shuffled within each seed "
                  f"({s.stats.resamples} permutations); Holm's correction within each family (gender, language), "
                  f"significance at {s.stats.alpha:g}.",
                  "Language comparisons need at least two corpora in the run; they compare each corpus's own best "
                  "configuration, as the paper's Tables 5 and 6 do."])


def table_speakers(s: Summary) -> Table | None:
    """S01: accuracy per speaker, clean and under each attack's best configuration (mean over seeds [CI])."""
    conds = conditions(s)
    if not conds:
        return None
    recs: dict[tuple, dict] = {}
    data = []
    for variant, cond, rows, col in conds:
        if "speaker" not in rows:
            continue
        for (d, spk), grp in rows.groupby(["dataset", rows.speaker.astype(str)], sort=False):
            est, lo, hi = mean_ci(list(by_seed(grp, col).values()), s.stats)
            key = (*variant.values(), d, spk)
            per_seed = len(grp) / max(1, grp.seed.nunique())
            rec = recs.setdefault(key, {**variant, "dataset": d, "speaker": spk,
                                        "gender": str(grp.gender.iloc[0]), "samples": f"{per_seed:.0f}"})
            rec[_short(cond)] = agg.fmt_ci(est, lo, hi, None, ".3f")
            data.append({**variant, "dataset": d, "speaker": spk, "gender": str(grp.gender.iloc[0]),
                         "condition": cond, "accuracy_mean": est, "accuracy_lo": lo, "accuracy_hi": hi,
                         "n": len(grp), "seeds": grp.seed.nunique()})
    if not recs:
        return None
    variants = [k for k in conds[0][0]]
    display = pd.DataFrame(list(recs.values()))
    display = display.assign(_d=display.dataset.map(vocab.corpus_rank)).sort_values(
        [*variants, "_d", "gender", "speaker"], kind="mergesort").drop(columns="_d")
    display["dataset"] = display.dataset.map(lambda d: vocab.CORPUS_DISPLAY.get(d, d))
    display = display.fillna("–").reset_index(drop=True)
    display.attrs["labels"] = len(variants) + 4
    return Table("S01_speaker_accuracy", "Accuracy per speaker: clean and under each attack's best configuration",
                 display, pd.DataFrame(data),
                 ["Mean over seeds [95 % CI over the speaker's test samples]; 'samples' per seed. Clean: the final "
                  "models' test predictions; attacks: the attacked samples (a `limit` may leave some speakers out)."])


def _short(cond: str) -> str:
    return "clean" if cond == CLEAN else vocab.ATTACK_DISPLAY.get(cond, cond)
