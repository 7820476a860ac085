"""The paper's tables from a reduced run (numbering kept in file names; docs/report.md maps them).

Only the stages a run contained produce tables. Where the paper reports one number we show mean ± sample
standard deviation over seeds; a cell whose planned jobs are not all done carries a dagger and a note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.specs import TuneJob

from . import aggregate as agg
from . import byo_notes
from . import uncertainty as unc
from .cells import (
    ACC,
    LOSS,
    PERT,
    TIME,
    attack_name,
    corpus_name,
    flag_incomplete,
    fmt_mean_std,
    incomplete_notes,
    label_frame,
)
from .render import INCOMPLETE, Table
from .rundata import RunData
from .summary import Summary


def _seed_table(rows: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    return agg.over_seeds(rows, keys, metrics)


def table_study(data: RunData, s: Summary, stage: str) -> Table | None:
    """T1 (normalisation) and T2 (architecture): test accuracy per dataset, mean ± std over seeds."""
    rows = data.frame(stage)
    if rows.empty:
        return None
    by = ["normalization", "standardize"] if stage == "norm_study" else ["arch"]
    variants = agg.varying(rows, ["protocol"])
    stats = _seed_table(rows, [*variants, *by, "dataset"], ["accuracy", "n_params"])
    key_cols = [*variants, *by]
    datasets = sorted(stats.dataset.unique(), key=vocab.corpus_rank)
    out, flagged = [], False
    for key, grp in stats.groupby(key_cols, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(key_cols, key, strict=True))
        if stage == "arch_study":
            rec["parameters"] = f"{int(grp.n_params_mean.max()):,}" if "n_params_mean" in grp else "–"
        for d in datasets:
            cell = grp[grp.dataset == d]
            text = fmt_mean_std(cell.accuracy_mean.iloc[0], cell.accuracy_std.iloc[0], ACC) if len(cell) else "–"
            full = {**rec, "dataset": d, "study": "norm" if stage == "norm_study" else "arch"}
            if len(cell) and agg.is_incomplete(full, s.train_incomplete, agg.TRAIN_KEYS):
                flagged = True
                text += f" {INCOMPLETE}"
            rec[corpus_name(d)] = text
        out.append(rec)
    n_labels = len(key_cols) + (1 if stage == "arch_study" else 0)
    if stage == "norm_study":
        return Table("T01_normalisation", "Normalisation study: test accuracy (mean ± std over seeds)",
                     label_frame(out, n_labels), stats, incomplete_notes(flagged))
    return Table("T02_architecture", "Architecture study: parameters and test accuracy (mean ± std over seeds)",
                 label_frame(out, n_labels), stats, incomplete_notes(flagged))


def table_clean(s: Summary) -> Table | None:
    """T3: clean test accuracy of the attacked models, all / male / female."""
    if s.train.empty:
        return None
    # Settings that vary between the attacked models (a grid may train several) become row labels.
    keys = [*agg.varying(s.train, ["protocol", "arch", "width", "normalization", "standardize"]), "dataset"]
    user = _user_models(s.train)
    if user and "arch" not in keys:  # a user's model is always named (docs/bring-your-own.md)
        keys.insert(0, "arch")
    extra = [k for k in agg.TRAIN_KEYS if k not in keys and k in s.train]
    stats = _seed_table(s.train, [*keys, *extra], ["accuracy", "accuracy_male", "accuracy_female", "n_test"])
    stats = unc.with_clean_cis(stats, s.train, s.train_predictions, [*keys, *extra], s.stats)
    stats = stats.sort_values(keys, key=lambda c: c.map(lambda v: vocab.corpus_rank(v)) if c.name == "dataset"
                              else c).reset_index(drop=True)
    out, flagged = [], False
    for _, r in stats.iterrows():
        bad = agg.is_incomplete({k: r[k] for k in agg.TRAIN_KEYS if k in r}, s.train_incomplete, agg.TRAIN_KEYS)
        flagged |= bad
        rec = {k: (corpus_name(r[k]) if k == "dataset" else r[k]) for k in keys}
        for m, label in (("accuracy", "all"), ("accuracy_male", "male"), ("accuracy_female", "female")):
            rec[label] = unc.ci_text(r, m, ACC) + (f" {INCOMPLETE}" if bad else "")
        rec["test samples"] = f"{r['n_test_mean']:.0f}" if "n_test_mean" in r else "–"
        rec["seeds"] = int(r["n_seeds"])
        out.append(rec)
    return Table("T03_clean_accuracy", "Clean test accuracy: all / male / female (mean [95 % CI] ± std over seeds)",
                 label_frame(out, len(keys)), stats, incomplete_notes(flagged, [unc.ci_note(s.stats), *user]))


def _user_models(train: pd.DataFrame) -> list[str]:
    """Notes on a user's model (its standardiser) and a manifest's own split (honoured or not)."""
    return byo_notes.model_notes(train) + byo_notes.split_notes(train)


def per_attack(s: Summary, best: pd.DataFrame, cell, name: str, title: str, notes: list[str] | None = None,
                columns_per_dataset: list[str] | None = None, extra=None) -> Table:
    """Rows (variants, attack), one or more columns per dataset filled by `cell(row) -> str | dict`."""
    datasets = sorted(best.dataset.unique(), key=vocab.corpus_rank)
    out, flagged = [], False
    order = sorted(best.attack.unique(), key=vocab.attack_rank)
    groups = best.groupby(s.variants, sort=True) if s.variants else [((), best)]
    for vkey, vgrp in groups:
        vkey = vkey if isinstance(vkey, tuple) else (vkey,)
        for attack in order:
            rec = {**dict(zip(s.variants, vkey, strict=True)), "attack": attack_name(attack)}
            for d in datasets:
                hit = vgrp[(vgrp.attack == attack) & (vgrp.dataset == d)]
                if hit.empty:
                    vals = {c: "–" for c in columns_per_dataset} if columns_per_dataset else "–"
                else:
                    r = hit.iloc[0]
                    key = tuple(r[k] for k in agg.ATTACK_KEYS) if "source_attack" not in r else \
                        tuple(r.source_attack if k == "attack" else r[k] for k in agg.ATTACK_KEYS)
                    bad = key in s.attack_incomplete
                    flagged |= bad
                    vals = cell(r)
                    vals = {k: flag_incomplete(v, key, s.attack_incomplete) for k, v in vals.items()} \
                        if isinstance(vals, dict) else flag_incomplete(vals, key, s.attack_incomplete)
                if isinstance(vals, dict):
                    rec.update({f"{corpus_name(d)} {k}": v for k, v in vals.items()})
                else:
                    rec[corpus_name(d)] = vals
            if extra is not None:
                rec.update(extra(vkey, attack))
            out.append(rec)
    data = best.drop(columns=[c for c in ("job_ids",) if c in best]).reset_index(drop=True)
    return Table(name, title, label_frame(out, len(s.variants) + 1), data, incomplete_notes(flagged, notes))


def _param_text(r: pd.Series, s: Summary) -> str:
    attack = r.get("source_attack", r.attack)
    same = s.attack_configs[(s.attack_configs.attack == attack)]
    swept = agg.swept_params(same.params)
    text = agg.params_label(r.params, swept) if swept else "(one setting)"
    return f"{attack_name(attack)}: {text}" if attack != r.attack else text


def table_best(s: Summary) -> Table:
    """T4: per attack and dataset, the configuration giving the lowest accuracy (ties: lowest perturbation)."""
    return per_attack(s, s.paper_best, lambda r: _param_text(r, s), "T04_best_config",
                       "Best configuration per attack and dataset (lowest accuracy under attack; ties: lowest "
                       "mean perturbation, then the cheapest)", ["Only the swept parameters are shown; the sweep "
                                                                 "tables list all.", *agg.cw_notes(s.paper_best)])


def gender_cells(metric: str, spec: str | tuple[str, str]) -> Callable[[pd.Series], dict[str, str]]:
    def cell(r: pd.Series) -> dict[str, str]:
        return {g: unc.ci_text(r, f"{metric}{suf}", spec)
                for g, suf in (("all", ""), ("male", "_male"), ("female", "_female"))}
    return cell


def table_best_time(s: Summary) -> Table:
    """T44: generation time of the best configurations (seconds, summed over slices)."""
    return per_attack(s, s.paper_best, lambda r: fmt_mean_std(r.time_s_mean, r.time_s_std, TIME),
                       "T44_best_time", "Time to generate the adversarial test set, best configurations (s)",
                       ["Sum of each slice job's generate_s; hardware in the provenance section.",
                        *agg.cw_notes(s.paper_best)])


def tables_sweep(s: Summary) -> list[Table]:
    """T23-T43: each attack's parameter sweep (accuracy all/male/female, success rate, perturbation, time),
    and T27: BIM's adversarial loss."""
    out = []
    cfg = s.attack_configs
    for attack in sorted(cfg.attack.unique(), key=vocab.attack_rank):
        sub = cfg[cfg.attack == attack]
        swept = agg.swept_params(sub.params)
        fixed = [k for k in agg.param_values(sub.params.iloc[0]) if k not in swept]
        const = agg.params_label(sub.params.iloc[0], fixed)
        sub = sub.assign(_ds=sub.dataset.map(vocab.corpus_rank), _p=sub.params.map(agg.param_sort_key))
        sub = sub.sort_values([*s.variants, "_ds", "_p"]).drop(columns=["_ds", "_p"])
        rows, loss_rows, flagged = [], [], False
        for _, r in sub.iterrows():
            key = tuple(r[k] for k in agg.ATTACK_KEYS)
            flagged |= key in s.attack_incomplete
            label = {**{v: r[v] for v in s.variants}, "dataset": corpus_name(r.dataset),
                     "parameters": agg.params_label(r.params, swept or None) if swept else "(one setting)"}
            def f(m: str, spec: str | tuple[str, str], r: pd.Series = r, key: tuple = key) -> str:
                return flag_incomplete(unc.ci_text(r, m, spec), key, s.attack_incomplete)

            rows.append({**label, "accuracy": f("accuracy", ACC), "male": f("accuracy_male", ACC),
                         "female": f("accuracy_female", ACC), "success rate": f("success_rate", ACC),
                         "perturbation": f("perturbation", PERT), "time (s)": f("time_s", TIME),
                         "samples": f"{r.n_mean:.0f}", "seeds": int(r.n_seeds)})
            loss_rows.append({**label, "loss": f("loss", LOSS), "male": f("loss_male", LOSS),
                              "female": f("loss_female", LOSS)})
        notes = [f"Fixed parameters: {const}."] if const != "(defaults)" else []
        notes.append(unc.ci_note(s.stats))
        n_labels = len(s.variants) + 2
        data = sub.reset_index(drop=True)
        out.append(Table(f"T23-T43_{attack}_sweep",
                         f"{attack_name(attack)} parameter sweep (mean [CI] ± std over seeds)",
                         label_frame(rows, n_labels), data, incomplete_notes(flagged, notes)))
        if attack == "bim":
            out.append(Table("T27_bim_loss", "BIM: mean adversarial loss (cross-entropy vs true labels)",
                             label_frame(loss_rows, n_labels),
                             data[[*agg.ATTACK_KEYS, "loss_mean", "loss_std", "loss_male_mean", "loss_female_mean"]],
                             incomplete_notes(flagged, notes)))
    return out


def tune_rows(data: RunData) -> pd.DataFrame:
    """Tune rows with `tune_stage` (1 or 2): the row's own column, else the job's plan spec."""
    tune = data.frame("tune")
    if tune.empty or "score" not in tune:
        return pd.DataFrame()
    by_plan = {j.id: j.spec.stage for j in data.plan("tune") if isinstance(j.spec, TuneJob)}
    own = pd.to_numeric(tune["tune_stage"], errors="coerce") if "tune_stage" in tune \
        else pd.Series(np.nan, index=tune.index)
    return tune.assign(tune_stage=own.fillna(tune.job_id.map(by_plan)))


def _scored_trials(data: RunData, tune_stage: int) -> pd.DataFrame:
    """The scored trials of one tuning stage (empty when the run has none)."""
    tune = tune_rows(data)
    return tune if tune.empty else tune[(tune.tune_stage == tune_stage) & tune.score.notna()]


def table_lstm_units(data: RunData) -> Table | None:
    """T18: tuning stage 1, validation loss per LSTM width (mean over trials and seeds; * marks the best)."""
    one = _scored_trials(data, 1)
    if one.empty:
        return None
    keys = [*agg.varying(one, ["protocol"]), "dataset"]
    stats = one.groupby([*keys, "lstm_units"], dropna=False).agg(score_mean=("score", "mean"),
                                                                  score_std=("score", "std"),
                                                                  trials=("score", "size")).reset_index()
    columns = sorted(stats[keys].drop_duplicates().itertuples(index=False, name=None),
                     key=lambda k: (k[:-1], vocab.corpus_rank(k[-1])))
    best = {k: stats.loc[(stats[keys].apply(tuple, axis=1) == k), "score_mean"].min() for k in columns}
    rows = []
    for units in sorted(stats.lstm_units.unique()):
        rec: dict[str, Any] = {"LSTM units": int(units)}
        for k in columns:
            hit = stats[(stats[keys].apply(tuple, axis=1) == k) & (stats.lstm_units == units)]
            label = " ".join([*map(str, k[:-1]), corpus_name(k[-1])])
            if hit.empty:
                rec[label] = "–"
                continue
            r = hit.iloc[0]
            text = fmt_mean_std(r.score_mean, r.score_std, ".4f")
            rec[label] = text + (" *" if np.isclose(r.score_mean, best[k]) else "")
        rows.append(rec)
    return Table("T18_lstm_units", "Tuning stage 1: validation loss per BiLSTM width (* = best)",
                 label_frame(rows, 1), stats, ["Mean ± std over the trials (and seeds) that ran each width."])


def table_tuned(data: RunData) -> Table | None:
    """T20: tuning stage 2, the best trial's hyperparameters per dataset (and seed)."""
    two = _scored_trials(data, 2)
    if two.empty:
        return None
    keys = [*agg.varying(two, ["protocol"]), "dataset", "seed"]
    two = two.assign(_best=two["best"].fillna(False).astype(bool) if "best" in two else False)
    picks = two.sort_values([*keys, "_best", "score"], ascending=[*[True] * len(keys), False, True])
    picks = picks.groupby(keys, dropna=False).head(1)
    picks = picks.sort_values(keys, key=lambda c: c.map(vocab.corpus_rank) if c.name == "dataset" else c)
    cols = ["dropout", "lstm_dropout", "learning_rate", "batch_size"]
    rows = [{**{k: (corpus_name(r[k]) if k == "dataset" else r[k]) for k in keys},
             **{c: r.get(c) for c in cols}, "val loss": f"{r.score:.4f}"} for _, r in picks.iterrows()]
    data_cols = [*keys, *cols, "score", "trial_id"]
    return Table("T20_tuned_values", "Tuning stage 2: best hyperparameters (lowest validation loss)",
                 label_frame(rows, len(keys)), picks[[c for c in data_cols if c in picks]].reset_index(drop=True))


def table_composition(s: Summary) -> Table | None:
    """T22: test-set composition (segments per emotion and gender) of the attacked models (lowest seed)."""
    if s.train.empty or "test_composition" not in s.train:
        return None
    keys = [*agg.varying(s.train, ["protocol"]), "dataset"]
    firsts = s.train.sort_values("seed").groupby(keys, dropna=False).head(1)
    firsts = firsts.sort_values(keys, key=lambda c: c.map(vocab.corpus_rank) if c.name == "dataset" else c)
    rows, data = [], []
    for _, r in firsts.iterrows():
        comp = r.test_composition if isinstance(r.test_composition, dict) else {}
        for emotion in sorted(comp):
            m, f = int(comp[emotion].get("male") or 0), int(comp[emotion].get("female") or 0)
            label = {k: (corpus_name(r[k]) if k == "dataset" else r[k]) for k in keys}
            rows.append({**label, "emotion": emotion, "male": m, "female": f, "total": m + f})
            data.append({**{k: r[k] for k in keys}, "seed": r.seed, "emotion": emotion, "male": m, "female": f})
        tot = [x for x in rows if all(x[k] == (corpus_name(r[k]) if k == "dataset" else r[k]) for k in keys)]
        rows.append({**{k: (corpus_name(r[k]) if k == "dataset" else r[k]) for k in keys}, "emotion": "all",
                     "male": sum(x["male"] for x in tot), "female": sum(x["female"] for x in tot),
                     "total": sum(x["total"] for x in tot)})
    if not rows:
        return None
    return Table("T22_test_composition", "Test-set composition: segments per emotion and speaker gender",
                 label_frame(rows, len(keys) + 1), pd.DataFrame(data),
                 ["From the lowest seed's model of each dataset."])
