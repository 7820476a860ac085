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

from sercore import vocab

from . import aggregate as agg
from . import uncertainty as unc
from .cells import ACC, PERT, corpus_name, fmt_mean_std, label_frame
from .render import Table
from .summary import Summary
from .tables import gender_cells, per_attack

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
        for d in sorted(grp.dataset.unique(), key=vocab.corpus_rank):
            sub = grp[grp.dataset == d]
            for label, suf in columns.items():
                col = f"{metric}{suf}_mean"
                value = sub[col].mean() if col in sub else float("nan")
                rec[f"{corpus_name(d)} {label}" if label else corpus_name(d)] = fmt_mean_std(value, None, spec)
        rows.append(rec)
    _insert(table, rows, s, top)
    table.notes.append("Original: accuracy without attack on the attacked samples (the paper's Table 3 values).")


def dataset_ranks(best: pd.DataFrame, variants: list[str], metric: str) -> pd.DataFrame:
    """`best` plus `rank`: the rank of each dataset within (variants, attack) by `metric`_mean (1 = lowest;
    exact ties share the average rank)."""
    return best.assign(rank=best.groupby([*variants, "attack"], dropna=False)[f"{metric}_mean"].rank(
        method="average"))


def tables_rank(s: Summary) -> list[Table]:
    """T45 (accuracy) and T46 (perturbation): value and rank of each dataset per attack, and the Total Score."""
    out = []
    for metric, spec, name, what in (("accuracy", ACC, "T45_rank_accuracy", "accuracy under attack"),
                                     ("perturbation", PERT, "T46_rank_perturbation", "mean perturbation")):
        ranked = dataset_ranks(s.paper_best, s.variants, metric)

        def cell(r: pd.Series, metric: str = metric, spec: str | tuple[str, str] = spec) -> str:
            return f"{fmt_mean_std(r[f'{metric}_mean'], None, spec)} ({r['rank']:g})"
        table = per_attack(s, ranked, cell, name, f"Rank score by {what}: datasets ranked within each attack",
                            [f"Within each attack the datasets are ranked by {what} (1 = lowest; exact ties share "
                             "the average rank); Total Score = sum of a dataset's ranks over the attacks, as the "
                             "paper's Tables 45/46 (lower = more vulnerable / less perturbed).",
                             *agg.cw_notes(s.paper_best)])
        totals = []
        for vkey in _group_keys(s, ranked):
            grp = _in_group(s, ranked, vkey)
            rec = {**dict(zip(s.variants, vkey, strict=True)), "attack": "Total Score"}
            for d in sorted(grp.dataset.unique(), key=vocab.corpus_rank):
                rec[corpus_name(d)] = f"{grp.loc[grp.dataset == d, 'rank'].sum():g}"
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
            return {g: fmt_mean_std(r[f"{metric}{suf}_mean"], r[f"{metric}{suf}_std"], spec)
                    for g, suf in cols.items()}
        table = per_attack(s, s.paper_best, cell, name, f"{what}, female / male, of the configuration chosen on "
                            "all samples", ["The configuration is the one of Table 4 (chosen on all samples), as "
                                            "the paper's Tables 47/48; it is not re-selected per gender.",
                                            *agg.cw_notes(s.paper_best)], list(cols))
        if metric == "accuracy":
            original_row(s, table, "clean_accuracy", cols, ACC, top=False)
        out.append(table)
    return out


# ---------------------------------------------------------------- Tables 7-10, 19, 21

NORMS = {"l0": "L0", "l2": "L2", "linf": "L∞"}


def table_distance(s: Summary, metrics: dict[str, list[str]]) -> Table | None:
    """T7: the distance each attack minimises (the paper's Section 3.2), for the attacks in this run."""
    if s.best.empty:
        return None
    rows = []
    for attack in sorted(s.best.attack.unique(), key=vocab.attack_rank):
        key = {"cw_l2": ["l2"], "cw_linf": ["linf"]}.get(attack) or metrics.get(attack, [])
        rows.append({"attack": vocab.ATTACK_DISPLAY.get(attack, attack),
                     **{label: ("✓" if norm in key else "") for norm, label in NORMS.items()}})
    data = pd.DataFrame([{"attack": a, "metrics": ",".join(m)} for a, m in metrics.items()])
    return Table("T07_distance_metric", "Distance metric each attack minimises", label_frame(rows, 1), data,
                 ["From the paper's Section 3.2 (its Table 7 lost its column headers in the text); the two C&W "
                  "variants are L2 and L∞."])


def tables_corpus(files: pd.DataFrame) -> list[Table]:
    """T8 (file durations), T9 (files per emotion, every emotion) and T10 (kept files, segments after
    augmentation and 3 s split/repeat) from the features stage's per-file rows."""
    if files.empty or "duration_s" not in files:
        return []
    files = files.drop_duplicates(["dataset", "path"])
    datasets = sorted(files.dataset.unique(), key=vocab.corpus_rank)
    names = [corpus_name(d) for d in datasets]
    stats = files.groupby("dataset").duration_s.describe()  # count mean std (ddof 1) min 25% 50% 75% max
    t8 = pd.DataFrame([{"statistic": k, **{corpus_name(d): f"{stats.loc[d, k]:.3f}" for d in datasets}}
                       for k in ("mean", "std", "min", "25%", "50%", "75%", "max")])
    counts = files.groupby(["emotion", "dataset"]).size().unstack("dataset").reindex(columns=datasets)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="mergesort").index]
    t9 = pd.DataFrame([{"emotion": e, **{corpus_name(d): ("–" if pd.isna(r[d]) else f"{r[d]:.0f}") for d in datasets}}
                       for e, r in counts.iterrows()])
    kept = files[files.kept.astype(bool)].groupby("dataset").agg(files=("path", "size"),
                                                                segments=("n_segments", "sum"))
    t10 = pd.DataFrame([{"dataset": corpus_name(d), "files": int(kept.loc[d, "files"]),
                         "segments": int(kept.loc[d, "segments"]),
                         "factor": f"{kept.loc[d, 'segments'] / kept.loc[d, 'files']:.3f}"}
                        for d in datasets if d in kept.index])
    for t in (t8, t9, t10):
        t.attrs["labels"] = 1
    note = f"All {len(files)} files the corpus loaders recognised ({', '.join(names)})."
    return [Table("T08_durations", "File durations (s) before any processing", t8, stats.reset_index(), [note]),
            Table("T09_emotions", "Files per emotion, every emotion of the corpus", t9, counts.reset_index(), [note]),
            Table("T10_segments", "Files kept (the paper's five emotions) and segments after augmentation and "
                  "3 s split/repeat", t10, kept.reset_index(), ["factor = segments / files."])]


def tuned_label(r: pd.Series) -> str:
    """'final_tuned' for a final model trained with the paper's Table 20 values of its corpus, else 'final_base'."""
    from sercore.models import PAPER_TUNED

    ref = PAPER_TUNED.get(str(r.dataset))
    keys = ("dropout", "lstm_dropout", "learning_rate", "batch_size")
    same = ref is not None and all(pd.notna(r.get(k)) and float(r[k]) == float(getattr(ref, k)) for k in keys)
    return "final_tuned" if same else "final_base"


def table_models(data_train: pd.DataFrame, arch: pd.DataFrame, name: str, title: str,
                 models: dict[str, str], note: str) -> Table | None:
    """T19 / T21: accuracy and loss per dataset (mean ± std over seeds) of the named model groups."""
    groups: dict[str, pd.DataFrame] = {}
    final = data_train.assign(_m=data_train.apply(tuned_label, axis=1)) if not data_train.empty else data_train
    for key, label in models.items():
        src = (arch[arch.arch == "m1"] if key == "m1" and not arch.empty and "arch" in arch
               else final[final._m == key] if not final.empty else final)
        if len(src):
            groups[label] = src
    if not groups:
        return None
    datasets = sorted({d for g in groups.values() for d in g.dataset.unique()}, key=vocab.corpus_rank)
    rows, data = [], []
    for label, g in groups.items():
        for metric in ("accuracy", "loss"):
            rec = {"model": label, "metric": metric}
            for d in datasets:
                v = g.loc[g.dataset == d, metric] if metric in g else pd.Series(dtype=float)
                rec[corpus_name(d)] = fmt_mean_std(v.mean(), v.std(ddof=1) if len(v) > 1 else None, ".4f") \
                    if len(v) else "–"
                data.append({"model": label, "metric": metric, "dataset": d, "mean": v.mean(), "seeds": len(v)})
            rows.append(rec)
    return Table(name, title, label_frame(rows, 2), pd.DataFrame(data), [note])


def tables_models(train: pd.DataFrame, arch: pd.DataFrame) -> tuple[Table | None, Table | None]:
    has_m1 = not arch.empty and "arch" in arch and (arch.arch == "m1").any()
    t19 = None if not has_m1 else table_models(
        train, arch, "T19_m1_vs_final", "M1 (BiLSTM 3 units) vs the final model (BiLSTM 256): test accuracy and loss",
        {"m1": "M1", "final_base": "final (base)", "final_tuned": "final (tuned)"},
        "M1 from the architecture study; 'tuned' = trained with the paper's Table 20 values, 'base' = any other "
        "final model. The paper's Table 19 compares M1 with the base model.")
    t21 = table_models(train, arch, "T21_tuning_effect", "Final model before (base) and after tuning: test accuracy "
                       "and loss", {"final_base": "final (base)", "final_tuned": "final (tuned)"},
                       "'tuned' = trained with the paper's Table 20 values; 'base' = any other final model (add one "
                       "to the grid's train stage to fill the row).")
    return t19, t21


def no_gender_notes(best: pd.DataFrame) -> list[str]:
    """A note per corpus whose test sets hold no male and no female sample: no gender labels (a manifest corpus
    without a gender column), so its male / female cells are empty rather than a failure."""
    if best.empty or "accuracy_male_mean" not in best:
        return []
    unlabelled = [str(d) for d, g in best.groupby("dataset", sort=True)
                  if g.accuracy_male_mean.isna().all() and g.accuracy_female_mean.isna().all()]
    return [f"{corpus_name(d)}: no gender labels (its male / female cells are –)."
            for d in sorted(unlabelled, key=vocab.corpus_rank)]


def tables_by_gender(s: Summary) -> list[Table]:
    """T5 accuracy and T6 mean perturbation under the best configurations, all / male / female."""
    cols = ["all", "male", "female"]
    notes = [*agg.cw_notes(s.paper_best), unc.ci_note(s.stats), *no_gender_notes(s.paper_best)]
    acc = per_attack(s, s.paper_best, gender_cells("accuracy", ACC), "T05_accuracy_by_gender",
                      "Accuracy under attack (best configuration), all / male / female", notes, cols)
    original_row(s, acc, "clean_accuracy", {"all": "", "male": "_male", "female": "_female"}, ACC, top=False)
    return [acc, per_attack(s, s.paper_best, gender_cells("perturbation", PERT), "T06_perturbation_by_gender",
                             "Mean perturbation |Δx| per cell (best configuration), all / male / female", notes,
                             cols)]
