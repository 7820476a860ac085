"""The paper's summary tables built exactly as the paper defines them (Sections 3 and 6.5), on the best
configurations with the paper's rows (one C&W row, `Summary.paper_best`):

- T45 / T46: within each attack, the three datasets are ranked by accuracy under attack (T45, 1 = lowest) or by
  mean perturbation (T46, 1 = lowest); the "Total Score" row sums each dataset's ranks over the attacks.
- T47 / T48: the female and male columns (accuracy, perturbation) of the configuration chosen on *all* samples
  (Table 5's and Table 6's gender columns side by side), not a per-gender re-selection.
- The "Original" row (no attack) of Tables 5, 45 and 47: clean accuracy of the attacked samples.
"""

from __future__ import annotations

import pandas as pd

from . import aggregate as agg
from .render import Table
from .tables import ACC, PERT, Summary, _ds, _per_attack

GENDERS = {"all": "", "male": "_male", "female": "_female"}


def _group_keys(s: Summary, df: pd.DataFrame) -> list[tuple]:
    if not s.variants:
        return [()]
    keys = df[s.variants].drop_duplicates().itertuples(index=False, name=None)
    return sorted(keys, key=lambda k: tuple(map(str, k)))


def _in_group(s: Summary, df: pd.DataFrame, vkey: tuple) -> pd.DataFrame:
    for v, val in zip(s.variants, vkey, strict=True):
        df = df[df[v].astype(str) == str(val)]
    return df


def _insert(table: Table, rows: list[dict], s: Summary, top: bool) -> None:
    """Add one row per variant group, first (top) or last within its group; keeps the label-column count."""
    labels = table.display.attrs.get("labels", 1)
    order = -1 if top else 10**6
    disp = table.display.assign(_o=range(len(table.display)))
    extra = pd.DataFrame(rows).assign(_o=order)
    both = pd.concat([disp, extra], ignore_index=True)
    if s.variants:
        both["_g"] = both[s.variants].astype(str).agg("|".join, axis=1)
        both = both.sort_values(["_g", "_o"], kind="mergesort").drop(columns="_g")
    else:
        both = both.sort_values("_o", kind="mergesort")
    table.display = both.drop(columns="_o").fillna("").reset_index(drop=True)
    table.display.attrs["labels"] = labels


def original_row(s: Summary, table: Table, metric: str, columns: dict[str, str], spec: str, top: bool) -> None:
    """Append (or prepend) the no-attack row: `metric` (clean accuracy of the attacked samples) per dataset and
    column suffix, mean over the attacks' best configurations (they attack the same samples unless `limit`
    differs between attacks)."""
    best = s.paper_best
    if best.empty or f"{metric}_mean" not in best:
        return
    rows = []
    for vkey in _group_keys(s, best):
        grp = _in_group(s, best, vkey)
        rec = {**dict(zip(s.variants, vkey, strict=True)), "attack": "Original"}
        for d in sorted(grp.dataset.unique(), key=agg.dataset_rank):
            sub = grp[grp.dataset == d]
            for label, suf in columns.items():
                col = f"{metric}{suf}_mean"
                value = sub[col].mean() if col in sub else float("nan")
                rec[f"{_ds(d)} {label}" if label else _ds(d)] = agg.fmt_mean_std(value, None, spec)
        rows.append(rec)
    _insert(table, rows, s, top)
    table.notes.append("Original: accuracy without attack on the attacked samples (the paper's Table 3 values).")


def dataset_ranks(s: Summary, metric: str) -> pd.DataFrame:
    """paper_best plus `rank`: the rank of each dataset within (variants, attack) by `metric`_mean (1 = lowest;
    exact ties share the average rank)."""
    best = s.paper_best.copy()
    best["rank"] = best.groupby([*s.variants, "attack"], dropna=False)[f"{metric}_mean"].rank(method="average")
    return best


def tables_rank(s: Summary) -> list[Table]:
    """T45 (accuracy) and T46 (perturbation): value and rank of each dataset per attack, and the Total Score."""
    out = []
    for metric, spec, name, what in (("accuracy", ACC, "T45_rank_accuracy", "accuracy under attack"),
                                     ("perturbation", PERT, "T46_rank_perturbation", "mean perturbation")):
        ranked = dataset_ranks(s, metric)

        def cell(r: pd.Series, metric: str = metric, spec: str = spec) -> str:
            return f"{agg.fmt_mean_std(r[f'{metric}_mean'], None, spec)} ({r['rank']:g})"
        table = _per_attack(s, ranked, cell, name, f"Rank score by {what}: datasets ranked within each attack",
                            [f"Within each attack the datasets are ranked by {what} (1 = lowest; exact ties share "
                             "the average rank); Total Score = sum of a dataset's ranks over the attacks, as the "
                             "paper's Tables 45/46 (lower = more vulnerable / less perturbed).",
                             *agg.cw_notes(s.paper_best)])
        totals = []
        for vkey in _group_keys(s, ranked):
            grp = _in_group(s, ranked, vkey)
            rec = {**dict(zip(s.variants, vkey, strict=True)), "attack": "Total Score"}
            for d in sorted(grp.dataset.unique(), key=agg.dataset_rank):
                rec[_ds(d)] = f"{grp.loc[grp.dataset == d, 'rank'].sum():g}"
            totals.append(rec)
        _insert(table, totals, s, top=False)
        if metric == "accuracy":
            original_row(s, table, "clean_accuracy", {"": ""}, ACC, top=True)
        table.data = ranked[[*agg.ATTACK_KEYS, "source_attack", f"{metric}_mean", "rank"]].reset_index(drop=True)
        out.append(table)
    return out


def tables_gender_columns(s: Summary) -> list[Table]:
    """T47 (accuracy) and T48 (perturbation): female and male columns of the configuration chosen on all
    samples (Tables 5 and 6), per dataset."""
    out = []
    cols = {"female": "_female", "male": "_male"}
    for metric, spec, name, what in (("accuracy", ACC, "T47_gender_accuracy", "Accuracy under attack"),
                                     ("perturbation", PERT, "T48_gender_perturbation", "Mean perturbation")):
        def cell(r: pd.Series, metric: str = metric, spec: str | tuple[str, str] = spec) -> dict[str, str]:
            return {g: agg.fmt_mean_std(r[f"{metric}{suf}_mean"], r[f"{metric}{suf}_std"], spec)
                    for g, suf in cols.items()}
        table = _per_attack(s, s.paper_best, cell, name, f"{what}, female / male, of the configuration chosen on "
                            "all samples", ["The configuration is the one of Table 4 (chosen on all samples), as "
                                            "the paper's Tables 47/48; it is not re-selected per gender.",
                                            *agg.cw_notes(s.paper_best)], list(cols))
        if metric == "accuracy":
            original_row(s, table, "clean_accuracy", cols, ACC, top=False)
        out.append(table)
    return out
