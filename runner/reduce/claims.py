"""The paper's comparisons as tests, and per-speaker accuracy.

C01 "claim | effect | 95 % CI | unit | p | verdict": the paper concludes "minor differences between the languages
and between male and female speech". Each row tests one such difference in accuracy: male - female per dataset,
clean and under each attack's best configuration; and dataset A - dataset B for every pair of corpora the run
has. A claim about genders or corpora rests on *speakers* (a speaker's segments share a voice), so the unit is the
speaker: the CI resamples speakers of each group (sercore.stats.cluster_gap_ci, seeds as strata) and p comes from
a permutation of whole speakers' group labels (sercore.stats.speaker_permutation_test: genders within the corpus;
corpora within each gender), exact when the relabellings are few. Holm's correction within each family (gender,
language). When even the smallest attainable p times the family size exceeds alpha (EmoDB's 5 vs 5 speakers allow
252 relabellings, so p >= 2/252), the verdict says plainly that the claim rests on too few speakers to be tested;
otherwise sercore.stats.verdict applies the definition of "minor" (|difference| < `statistics.minor`).
The segment-level CI and p (Fisher / stratified permutation over segments, as the paper's sample counts imply)
stay beside them, labelled as such.

S01: accuracy per speaker (clean, and under each attack's best configuration) with CIs over the speaker's
recordings, so a reader sees whether one speaker drives a gender gap.
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.stats import (
    EXACT_LIMIT,
    StatsSettings,
    cluster_gap_ci,
    difference_p,
    gap_ci,
    holm,
    speaker_permutation_test,
    too_few_speakers,
    verdict,
)

from . import aggregate as agg
from .cells import fmt_ci
from .render import Table
from .summary import Summary
from .uncertainty import recording_ci

CLEAN = "clean"


def by_seed(rows: pd.DataFrame, column: str) -> dict[int, np.ndarray]:
    return {int(cast(int, k)): g[column].to_numpy(float) for k, g in rows.groupby("seed", sort=True)}


def conditions(s: Summary) -> list[tuple[dict, str, pd.DataFrame, str]]:
    """(variant values, condition label, per-sample rows with `seed`, `gender`, `speaker`, `dataset`, outcome
    column): clean (the final models' test predictions, `correct`) and each attack's best configuration per dataset
    (`robust`: correct before and under the attack; issue 25 item 4)."""
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
            # robust: right before and under the attack (RobustBench), so a repaired sample is no evidence
            grp = grp.assign(robust=grp.correct * grp.clean_correct)
            for attack in sorted(grp.attack.unique(), key=vocab.attack_rank):
                out.append((dict(zip(s.variants, vkey, strict=True)), attack, grp[grp.attack == attack], "robust"))
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
    return "clean" if cond == CLEAN else f"under {vocab.ATTACK_DISPLAY.get(cond, cond)} (best configuration, robust)"


def _speaker_ids(rows: pd.DataFrame) -> pd.Series:
    """Speaker ids unique across corpora (`dataset:speaker`); without a speaker column, each row is its own."""
    if "speaker" not in rows or rows["speaker"].isna().any():
        return pd.Series([f"row{i}" for i in range(len(rows))], index=rows.index)
    return rows["dataset"].astype(str) + ":" + rows["speaker"].astype(str)


def _tested(a: pd.DataFrame, b: pd.DataFrame, col: str, blocks: str, st: StatsSettings, seed: int) -> dict:
    """Speaker-level CI and p, and the segment-level ones (as the paper), of mean(a) - mean(b); `_stratum` pairs
    the rows of both groups (one stratum per seed), `blocks` names the column speakers are permuted within."""
    keys = sorted(set(a._stratum) & set(b._stratum))
    sa = [a[a._stratum == k] for k in keys]
    sb = [b[b._stratum == k] for k in keys]
    va, vb = [x[col].to_numpy(float) for x in sa], [x[col].to_numpy(float) for x in sb]
    unit = "speaker" if "speaker" in a and "speaker" in b else "segment"
    iv = cluster_gap_ci(va, vb, [_speaker_ids(x).to_numpy() for x in sa], [_speaker_ids(x).to_numpy() for x in sb],
                        st, seed, unit)
    both = pd.concat([a[a._stratum.isin(keys)].assign(_a=True), b[b._stratum.isin(keys)].assign(_a=False)])
    t = speaker_permutation_test(both[col].to_numpy(float), _speaker_ids(both).to_numpy(), both._a.to_numpy(),
                                 both[blocks].astype(str).to_numpy(), both._stratum.astype(str).to_numpy(), st, seed)
    _, seg_lo, seg_hi = gap_ci(va, vb, st)
    return {"effect": iv.estimate, "lo": iv.low, "hi": iv.high, "ci_unit": unit, "n_eff": iv.n_clusters,
            "speakers_a": t.speakers_a, "speakers_b": t.speakers_b, "relabellings": t.relabellings,
            "exact": t.exact, "p_min": t.p_min, "p": t.p, "seg_lo": seg_lo, "seg_hi": seg_hi,
            "p_segment": difference_p(va, vb, st, seed=seed), "n_a": sum(map(len, va)), "n_b": sum(map(len, vb)),
            "seeds": len(keys)}


def _seed_pairs(ra: pd.DataFrame, rb: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both corpora's rows with `_stratum`: paired by seed where both have it, else by order (as `paired`)."""
    sa, sb = sorted(ra.seed.unique()), sorted(rb.seed.unique())
    common = sorted(set(sa) & set(sb))
    if common:
        return ra.assign(_stratum=ra.seed), rb.assign(_stratum=rb.seed)
    return (ra.assign(_stratum=ra.seed.map({k: i for i, k in enumerate(sa)})),
            rb.assign(_stratum=rb.seed.map({k: i for i, k in enumerate(sb)})))


def claim_rows(s: Summary) -> pd.DataFrame:
    """One row per tested difference: family, claim, speaker-level effect / lo / hi / p (+ design: speakers,
    relabellings, p_min) and the segment-level seg_lo / seg_hi / p_segment (p_holm and verdict added later)."""
    st: StatsSettings = s.stats
    out = []
    for i, (variant, cond, rows, col) in enumerate(conditions(s)):
        prefix = f"{_variant_text(variant)}: " if variant else ""
        rows = rows.assign(_stratum=rows.seed, gender=rows.gender.astype(str))
        datasets = sorted(rows.dataset.unique(), key=vocab.corpus_rank)
        for d in datasets:
            sub = rows[rows.dataset == d]
            out.append({**variant, "family": "gender", "condition": cond, "dataset": d, "dataset_b": None,
                        "claim": f"{prefix}{vocab.CORPUS_DISPLAY.get(d, d)} {_condition_text(cond)}: male − female "
                                 "accuracy",
                        **_tested(sub[sub.gender == "male"], sub[sub.gender == "female"], col, "dataset", st, 2 * i)})
        for da, db in itertools.combinations(datasets, 2):
            ra, rb = _seed_pairs(rows[rows.dataset == da], rows[rows.dataset == db])
            out.append({**variant, "family": "language", "condition": cond, "dataset": da, "dataset_b": db,
                        "claim": f"{prefix}{_condition_text(cond)}: {vocab.CORPUS_DISPLAY.get(da, da)} − "
                                 f"{vocab.CORPUS_DISPLAY.get(db, db)} accuracy",
                        **_tested(ra, rb, col, "gender", st, 2 * i + 1)})
    return pd.DataFrame(out)


def _too_few_text(r: dict[str, Any], m: int, alpha: float) -> str:
    return (f"too few speakers to test: {r['speakers_a']} vs {r['speakers_b']} speakers allow {r['relabellings']} "
            f"relabellings, so the smallest attainable p is {r['p_min']:.3g}, and × {m} claims (Holm) > {alpha:g}")


def _verdicts(df: pd.DataFrame, st: StatsSettings) -> pd.DataFrame:
    """Holm within each family (speaker level and segment level), the too-few-speakers rule, then the verdict."""
    df = df.assign(p_holm=np.nan, p_segment_holm=np.nan, too_few=False, family_size=0)
    for _, idx in df.groupby("family").groups.items():
        df.loc[idx, "p_holm"] = holm(df.loc[idx, "p"].to_numpy())
        df.loc[idx, "p_segment_holm"] = holm(df.loc[idx, "p_segment"].to_numpy())
        df.loc[idx, "family_size"] = int(df.loc[idx, "p"].notna().sum())
    recs: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
    df["too_few"] = [r["ci_unit"] == "speaker" and too_few_speakers(r["p_min"], r["family_size"], st.alpha)
                     for r in recs]
    df["verdict"] = [_too_few_text(r, r["family_size"], st.alpha) if few
                     else verdict(r["lo"], r["hi"], r["p_holm"], st) for r, few in zip(recs, df.too_few, strict=True)]
    return df


def table_claims(s: Summary) -> Table | None:
    """C01: every comparison behind "minor differences", at speaker level, Holm-corrected within its family, with
    a verdict; the segment-level numbers (as the paper) beside them."""
    df = claim_rows(s)
    if df.empty:
        return None
    df = _verdicts(df, s.stats)
    # A corpus without gender labels (a manifest without a gender column) has no male or female sample at all.
    df.loc[(df.family == "gender") & (df.n_a == 0) & (df.n_b == 0), "verdict"] = NO_GENDER_LABELS
    fam_order = {"gender": 0, "language": 1}
    df = df.sort_values("family", key=lambda c: c.map(fam_order), kind="mergesort").reset_index(drop=True)

    def num(v: Any, spec: str) -> str:
        return "–" if pd.isna(v) else format(v, spec)

    def ci(lo: Any, hi: Any) -> str:
        return f"[{num(lo, '+.4f')}, {num(hi, '+.4f')}]"
    recs: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
    display = pd.DataFrame({
        "claim": df.claim, "effect": df.effect.map(lambda v: num(v, "+.4f")),
        f"{s.stats.confidence:.0%} CI": [ci(lo, hi) for lo, hi in zip(df.lo, df.hi, strict=True)],
        "unit (n)": [f"speakers {r['speakers_a']} vs {r['speakers_b']}" if r["ci_unit"] == "speaker" else
                     f"segments {r['n_a']} vs {r['n_b']}" for r in recs],
        "p": df.p.map(lambda v: num(v, ".3g")), "p (Holm)": df.p_holm.map(lambda v: num(v, ".3g")),
        "verdict": df.verdict,
        "segment-level (as the paper): CI, p (Holm)": [
            f"{ci(r['seg_lo'], r['seg_hi'])}, {num(r['p_segment_holm'], '.3g')}" for r in recs]})
    display.attrs["labels"] = 1
    return Table("C01_claims", "The paper's comparisons as tests: does the data support \"minor differences\"?",
                 display, df, _claims_notes(s.stats, int(df.too_few.sum())))


def _claims_notes(st: StatsSettings, too_few: int) -> list[str]:
    m = st.minor
    notes = [f"'Minor' means |difference in accuracy| < {m:g}: supported when the whole {st.confidence:.0%} CI lies "
             f"inside ±{m:g} (an equivalence test), contradicted when it lies wholly beyond.",
             "Unit: the speaker. Effect: mean over seeds of the per-seed difference; CI: bootstrap over speakers, "
             "each group's speakers resampled on their own (a speaker is drawn with all its segments, in every seed).",
             "p: permutation test of whole speakers' labels (gender claims: genders within the corpus; language "
             "claims: corpora within each gender), exact over every relabelling when there are at most "
             f"{EXACT_LIMIT:,} ({st.resamples} random ones otherwise); Holm's correction within each family "
             f"(gender, language), significance at {st.alpha:g}.",
             "A claim rests on too few speakers to be tested when even the smallest p its speakers allow, times the "
             f"family size (Holm's first step), exceeds {st.alpha:g}: no data could make it significant.",
             "Segment-level (as the paper): segments treated as independent (Fisher's exact test for one seed, a "
             "permutation test within seeds otherwise; bootstrap over segments): kept for comparison, too narrow.",
             "Language comparisons need at least two corpora in the run; they compare each corpus's own best "
             "configuration, as the paper's Tables 5 and 6 do."]
    if too_few:
        notes.append(f"{too_few} claim(s) rest on too few speakers to be tested.")
    return notes


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
            iv = recording_ci(grp, col, s.stats)
            est, lo, hi = iv.triple()
            key = (*variant.values(), d, spk)
            per_seed = len(grp) / max(1, grp.seed.nunique())
            rec = recs.setdefault(key, {**variant, "dataset": d, "speaker": spk,
                                        "gender": str(grp.gender.iloc[0]), "samples": f"{per_seed:.0f}"})
            rec[_short(cond)] = fmt_ci(est, lo, hi, None, ".3f")
            data.append({**variant, "dataset": d, "speaker": spk, "gender": str(grp.gender.iloc[0]),
                         "condition": cond, "accuracy_mean": est, "accuracy_lo": lo, "accuracy_hi": hi,
                         "n": len(grp), "recordings": iv.n_clusters, "ci_unit": iv.unit, "seeds": grp.seed.nunique()})
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
                 ["Mean over seeds [95 % CI over the speaker's test recordings, each drawn with all its segments]; "
                  "'samples' (segments) per seed. Clean: the final models' test predictions; attacks: the attacked "
                  "samples (a `limit` may leave some speakers out)."])


def _short(cond: str) -> str:
    return "clean" if cond == CLEAN else vocab.ATTACK_DISPLAY.get(cond, cond)
