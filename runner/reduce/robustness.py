"""Worst-case robust accuracy: per attacked model, the share of test samples that every attack configuration
leaves correctly classified (y_adv == y_true in every configuration), over each attack's sweep and over every
attack of the run, overall and by gender.

Samples are matched across attack jobs by `sample` (the index into the model's deterministic test set; the same
in every job and slice of one model, tested in tests/sercore/test_attack_job.py) and checked: a sample id whose
true label (or store segment) differs between jobs means the rows do not describe one test set, and the
reducer stops with the model named rather than report a wrong union. Only samples attacked by every
configuration of the scope count (a `limit` that differs between attacks shrinks the set; `n` says how many).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.errors import DataError
from sercore.stats import StatsSettings, mean_ci

from . import aggregate as agg
from .render import Table

MODEL_KEYS = ["dataset", "protocol", "labels", "estimator", "seed"]
ALL = "all attacks"


def check_sample_ids(rows: pd.DataFrame) -> None:
    """Every (model, sample) must name one test sample: one true label and one store segment across jobs."""
    cols = [c for c in ("y_true", "segment") if c in rows]
    per = rows.groupby([*MODEL_KEYS, "sample"], dropna=False)[cols].nunique()
    bad = per[(per > 1).any(axis=1)]
    if not bad.empty:
        key = dict(zip([*MODEL_KEYS, "sample"], bad.index[0], strict=True))
        raise DataError(f"attack rows disagree on test sample {key}: {len(bad)} sample ids carry different "
                        f"{'/'.join(cols)} in different jobs (the jobs did not see one test set)")


def robust_samples(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, sample attacked by every configuration of a scope): `scope` (attack name or ALL),
    `robust` (1.0 when no configuration of the scope fooled it), `clean_correct`, `gender`."""
    if rows.empty:
        return pd.DataFrame(columns=[*MODEL_KEYS, "scope", "sample", "robust", "clean_correct", "gender"])
    check_sample_ids(rows)
    out = []
    for key, grp in rows.groupby(MODEL_KEYS, dropna=False, sort=False):
        grid = grp.pivot_table(index="sample", columns=["attack", "params"], values="correct", aggfunc="min")
        info = grp.drop_duplicates("sample").set_index("sample")
        scopes = {a: grid.xs(a, axis=1, level="attack") for a in grid.columns.get_level_values("attack").unique()}
        scopes[ALL] = grid
        for scope, cols in scopes.items():
            complete = pd.DataFrame(cols).dropna()  # samples every configuration of the scope attacked
            if complete.empty:
                continue
            found = info.loc[complete.index]
            out.append(pd.DataFrame({**dict(zip(MODEL_KEYS, key, strict=True)), "scope": scope,
                                     "sample": complete.index.to_numpy(), "robust": complete.min(axis=1).to_numpy(),
                                     "clean_correct": found["clean_correct"].to_numpy(),
                                     "gender": found["gender"].astype(str).to_numpy()}))
    return pd.concat(out, ignore_index=True)


def worst_case(rows: pd.DataFrame, variants: list[str], settings: StatsSettings) -> pd.DataFrame:
    """Per (variants, dataset, scope, gender): worst-case accuracy over seeds with its CI, the clean accuracy
    of the same samples (the ceiling), n samples per seed and the number of seeds."""
    per = robust_samples(rows)
    if per.empty:
        return pd.DataFrame()
    keys = [*variants, "dataset", "scope"]
    out = []
    for key, grp in per.groupby(keys, dropna=False, sort=False):
        for gender in ("all", "male", "female"):
            sub = grp if gender == "all" else grp[grp.gender == gender]
            if sub.empty:
                continue
            by_seed = [g for _, g in sub.groupby("seed", sort=True)]
            est, lo, hi = mean_ci([g.robust.to_numpy(float) for g in by_seed], settings)
            seed_means = [g.robust.mean() for g in by_seed]
            out.append({**dict(zip(keys, key, strict=True)), "gender": gender, "robust_mean": est, "robust_lo": lo,
                        "robust_hi": hi, "robust_std": float(np.std(seed_means, ddof=1)) if len(by_seed) > 1
                        else float("nan"), "clean_mean": float(np.mean([g.clean_correct.mean() for g in by_seed])),
                        "n": float(np.mean([len(g) for g in by_seed])), "seeds": len(by_seed)})
    return pd.DataFrame(out)


def table_worst_case(rows: pd.DataFrame, variants: list[str], settings: StatsSettings,
                     note: str) -> Table | None:
    """R01: rows (variants, dataset, gender), a column per attack (union over its sweep) and one over all."""
    wc = worst_case(rows, variants, settings)
    if wc.empty:
        return None
    attacks = sorted((a for a in wc.scope.unique() if a != ALL), key=vocab.attack_rank)
    keys = [*variants, "dataset", "gender"]
    display = []
    order = wc.assign(_d=wc.dataset.map(vocab.corpus_rank), _g=wc.gender.map({"all": 0, "male": 1, "female": 2}))
    for key, grp in order.sort_values([*variants, "_d", "_g"]).groupby(keys, sort=False):
        rec: dict[str, Any] = dict(zip(keys, key, strict=True))
        rec["dataset"] = vocab.CORPUS_DISPLAY.get(rec["dataset"], rec["dataset"])
        every = grp[grp.scope == ALL]
        rec["clean"] = f"{every.clean_mean.iloc[0]:.4f}" if len(every) else "–"
        for scope in [*attacks, ALL]:
            hit = grp[grp.scope == scope]
            label = vocab.ATTACK_DISPLAY.get(scope, scope)
            if hit.empty:
                rec[label] = "–"
                continue
            r = hit.iloc[0]
            rec[label] = agg.fmt_ci(r.robust_mean, r.robust_lo, r.robust_hi, r.robust_std, ".4f")
        rec["samples"] = f"{every.n.iloc[0]:.0f}" if len(every) else "–"
        rec["seeds"] = int(every.seeds.iloc[0]) if len(every) else 0
        display.append(rec)
    frame = pd.DataFrame(display)
    frame.attrs["labels"] = len(keys)
    return Table("R01_worst_case", "Worst-case robust accuracy: share of test samples no attack configuration "
                 "fools (per attack: over its sweep)", frame, wc.reset_index(drop=True),
                 ["A sample counts as robust when y_adv == y_true in every configuration of the column's scope; "
                  "'all attacks' takes every configuration of every attack. Only samples attacked by every "
                  "configuration of the scope count ('samples' per seed). 'clean': clean accuracy of the same "
                  "samples, the ceiling.", note])
