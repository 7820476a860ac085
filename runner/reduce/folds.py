"""Grouped k-fold results pooled into one number per model configuration, with bootstrap CIs, and the
training-curve diagnostics (best epoch, early-best warning) of every trained model.

A leak-free configuration trained with `folds: K` has K train rows (fold 0..K-1) whose test sides together hold
every recording once. `pool_folds` replaces them by one row whose accuracy is over all their test segments (not
the mean of the K fold accuracies), so downstream tables compare it with the paper protocol's single split like
for like. Confidence intervals resample *recordings* (scipy.stats.bootstrap on per-recording correct/total
pairs): segments of one recording are not independent, and under the paper protocol the test side holds up to
nine versions of each recording.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sercore import vocab
from sercore.specs import TrainJob

from ..planned import PlannedJob
from . import aggregate as agg
from .render import Table

# Configuration columns of a train row: rows that agree on all of them (and differ in `fold`) are pooled.
POOL_KEYS = [*agg.TRAIN_KEYS, "seed", "split_seed", "folds", "monitor", "dropout", "lstm_dropout", "lstm_units",
             "learning_rate", "batch_size"]
# "Few" epochs: a best epoch at or below max(EARLY_BEST_EPOCHS, EARLY_BEST_FRACTION x epochs run) is flagged.
EARLY_BEST_EPOCHS = 3
EARLY_BEST_FRACTION = 0.1
CI_LEVEL = 0.95
N_RESAMPLES = 2000


def _outcomes(row: pd.Series) -> pd.DataFrame | None:
    """The row's per-test-sample outcomes (merge's typed `test_outcomes`: recording, gender, correct)."""
    outcomes = row.get("test_outcomes")
    return pd.DataFrame(outcomes) if isinstance(outcomes, dict) else None


def recording_ci(outcomes: pd.DataFrame, level: float = CI_LEVEL, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the accuracy, resampling recordings (NaN when fewer than 2 recordings or
    every recording scores the same)."""
    per = outcomes.groupby("recording", sort=True)["correct"].agg(["sum", "count"])
    if len(per) < 2:
        return float("nan"), float("nan")
    k, n = per["sum"].to_numpy(float), per["count"].to_numpy(float)
    if np.allclose(k / n, k[0] / n[0]):
        return float(k.sum() / n.sum()), float(k.sum() / n.sum())
    res = stats.bootstrap((k, n), lambda a, b, axis: a.sum(axis) / b.sum(axis), paired=True, vectorized=True,
                          n_resamples=N_RESAMPLES, confidence_level=level, method="percentile",
                          random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _with_ci(row: dict[Hashable, Any], outcomes: pd.DataFrame | None) -> dict[Hashable, Any]:
    """Add accuracy CIs (overall, male, female) and the number of test recordings."""
    for suffix, gender in (("", None), ("_male", "male"), ("_female", "female")):
        sub = outcomes if outcomes is None or gender is None else outcomes[outcomes.gender == gender]
        low, high = recording_ci(sub) if sub is not None and len(sub) else (float("nan"), float("nan"))
        row[f"accuracy{suffix}_ci_low"], row[f"accuracy{suffix}_ci_high"] = low, high
    row["n_test_recordings"] = int(outcomes.recording.nunique()) if outcomes is not None else None
    return row


def _sum_counts(values: pd.Series) -> list | dict | None:
    """Element-wise sum of confusion matrices or composition dicts (None when a row lacks one)."""
    if values.isna().any():
        return None
    if not isinstance(values.iloc[0], dict):
        return np.sum([np.stack(list(m)) for m in values], axis=0).tolist()
    out: dict[str, dict[str, int]] = {}
    for comp in values:
        for emotion, by_gender in comp.items():
            for gender, n in by_gender.items():
                out.setdefault(emotion, {}).setdefault(gender, 0)
                out[emotion][gender] += n
    return out


def _weighted(grp: pd.DataFrame, metric: str, weight: str) -> float:
    w = grp[weight].astype(float)
    vals = grp[metric].astype(float)
    ok = w > 0
    return float((vals[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")


def _pool(grp: pd.DataFrame) -> dict[Hashable, Any]:
    first = grp.sort_values("fold").iloc[0].to_dict()
    parts = [o for o in (_outcomes(r) for _, r in grp.iterrows()) if o is not None]
    outcomes = pd.concat(parts, ignore_index=True) if len(parts) == len(grp) else None
    row = {**first, "fold": None, "n_folds": len(grp), "job_id": ",".join(sorted(grp.get("job_id", pd.Series(
        dtype=str)).astype(str)))}
    for metric, weight in (("accuracy", "n_test"), ("accuracy_male", "n_test_male"),
                           ("accuracy_female", "n_test_female"), ("loss", "n_test")):
        if metric in grp and weight in grp:
            row[metric] = _weighted(grp, metric, weight)
    for col in ("n_test", "n_test_male", "n_test_female"):
        if col in grp:
            row[col] = int(grp[col].sum())
    for col in ("n_train", "n_val", "epochs_run", "best_epoch", "train_s"):
        if col in grp:
            row[f"{col}_folds"] = grp.sort_values("fold")[col].tolist()
            row[col] = float(grp[col].mean())
    for col in ("confusion", "test_composition"):
        if col in grp:
            row[col] = _sum_counts(grp[col])
    acc = grp.sort_values("fold")["accuracy"].astype(float)
    row.update(fold_accuracies=[round(a, 6) for a in acc], fold_accuracy_std=float(acc.std(ddof=1))
               if len(acc) > 1 else float("nan"), fold_accuracy_min=float(acc.min()),
               fold_accuracy_max=float(acc.max()))
    row["test_outcomes"] = None if outcomes is None else outcomes.to_dict(orient="list")
    return _with_ci(row, outcomes)


def pool_folds(train: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and seed: k-fold rows pooled over their folds, other rows kept as they are;
    every row gains recording-bootstrap CIs (`accuracy[_male|_female]_ci_low/high`) and `n_folds`."""
    if train.empty:
        return train
    has_folds = train["folds"].notna() if "folds" in train else pd.Series(False, index=train.index)
    single = [_with_ci({**r.to_dict(), "n_folds": 1}, _outcomes(r)) for _, r in train[~has_folds].iterrows()]
    keys = [k for k in POOL_KEYS if k in train]
    pooled = [_pool(g) for _, g in train[has_folds].groupby(keys, dropna=False, sort=False)] if has_folds.any() else []
    return pd.DataFrame(single + pooled, columns=None).reset_index(drop=True)


def _rank(col: pd.Series) -> pd.Series:
    """Sort key: datasets in paper order, the paper protocol before the leak-free ones."""
    if col.name == "dataset":
        return col.map(vocab.corpus_rank)
    if col.name == "protocol":
        return col.map(lambda p: (p != "paper", str(p)))
    return col


def _label(key: str, value: Any) -> Any:
    if key == "dataset":
        return vocab.CORPUS_DISPLAY.get(value, value)
    if value is None or pd.isna(value):
        return "–"
    return int(value) if key in ("fold", "seed") else value


def _ci_text(r: pd.Series, metric: str) -> str:
    mean, low, high = r.get(metric), r.get(f"{metric}_ci_low"), r.get(f"{metric}_ci_high")
    if mean is None or pd.isna(mean):
        return "–"
    text = f"{mean:.4f}"
    return text + (f" [{low:.3f}, {high:.3f}]" if not pd.isna(low) else "")


def table_pooled(pooled: pd.DataFrame) -> Table | None:
    """Accuracy pooled over folds with 95 % recording-bootstrap CIs, next to the per-fold spread."""
    if pooled.empty or "accuracy_ci_low" not in pooled:
        return None
    keys = [*agg.varying(pooled, ["protocol", "arch", "width", "monitor"]), "dataset"]
    if "protocol" not in keys and "protocol" in pooled:
        keys.insert(0, "protocol")
    rows = []
    ordered = pooled.sort_values(["dataset", *[k for k in keys if k != "dataset"], "seed"], key=_rank)
    for _, r in ordered.iterrows():
        rec = {k: (vocab.CORPUS_DISPLAY.get(r[k], r[k]) if k == "dataset" else r[k]) for k in keys}
        rec["seed"] = r.get("seed")
        rec["folds"] = int(r["n_folds"]) if r.get("n_folds") else 1
        for m, label in (("accuracy", "all"), ("accuracy_male", "male"), ("accuracy_female", "female")):
            rec[label] = _ci_text(r, m)
        spread = r.get("fold_accuracy_std")
        rec["fold spread"] = ("–" if spread is None or pd.isna(spread) else
                              f"{r['fold_accuracy_min']:.3f}–{r['fold_accuracy_max']:.3f} (sd {spread:.3f})")
        rec["test segments"] = int(r["n_test"]) if "n_test" in r and not pd.isna(r["n_test"]) else "–"
        nrec = r.get("n_test_recordings")
        rec["test recordings"] = "–" if nrec is None or pd.isna(nrec) else int(nrec)
        rows.append(rec)
    df = pd.DataFrame(rows)
    df.attrs["labels"] = len(keys) + 1
    notes = [f"Accuracy over all test segments of all folds; [low, high]: {CI_LEVEL:.0%} percentile bootstrap over "
             f"test recordings ({N_RESAMPLES} resamples, scipy.stats.bootstrap). Fold spread: min–max and sample "
             "standard deviation of the per-fold accuracies."]
    # the CSV's columns sorted: a merged train frame's column order depends on which shard pyarrow read first
    return Table("X08_pooled_accuracy", "Clean test accuracy pooled over folds, with bootstrap CIs", df,
                 ordered[sorted(ordered.columns)], notes)


def early_best(best: Any, run: Any) -> bool:
    """Whether the restored epoch is among the first few: <= max(3, 10 % of the epochs run)."""
    if best is None or run is None or pd.isna(best) or pd.isna(run) or best <= 0:
        return False
    return bool(best <= max(EARLY_BEST_EPOCHS, EARLY_BEST_FRACTION * run))


def table_training(train: pd.DataFrame, max_epochs: dict[str, int] | None = None) -> Table | None:
    """Per trained model: monitor, epochs run, best (restored) epoch, the monitored values there, and warnings
    when the best epoch is among the first few or training stopped at its epoch cap still improving."""
    if train.empty or "best_epoch" not in train:
        return None
    keys = [k for k in ("dataset", "protocol", "width", "monitor", "seed", "fold") if k in train]
    rows, flags = [], 0
    for _, r in train.sort_values(keys, key=_rank, na_position="first").iterrows():
        rec = {k: _label(k, r[k]) for k in keys}
        best, run = r.get("best_epoch"), r.get("epochs_run")
        curves = r["curves"] if isinstance(r.get("curves"), dict) else {}
        i = int(best) - 1 if best and not pd.isna(best) else None
        for col in ("val_loss", "val_accuracy", "accuracy"):
            vals = curves.get(col)
            vals = [] if vals is None else vals
            rec[f"{col} at best"] = f"{vals[i]:.4f}" if i is not None and i < len(vals) and pd.notna(vals[i]) \
                else "–"
        rec["epochs run"], rec["best epoch"] = run, best
        warn = []
        if early_best(best, run):
            warn.append("best epoch among the first few: the restored model may be undertrained")
        cap = (max_epochs or {}).get(str(r.get("job_id")))
        if cap and run == cap and best == run:
            warn.append("still improving at the epoch cap")
        flags += bool(warn)
        rec["warning"] = "; ".join(warn) or ""
        rows.append(rec)
    df = pd.DataFrame(rows)
    df.attrs["labels"] = len(keys)
    notes = [f"Best epoch: the epoch whose weights early stopping restored (first best of the monitor). 'First few' "
             f"means <= max({EARLY_BEST_EPOCHS}, {EARLY_BEST_FRACTION:.0%} of the epochs run)."]
    if flags:
        notes.append(f"{flags} model(s) carry a warning.")
    return Table("X09_training", "Training: best epoch and monitored values per model", df,
                 train[sorted(train.columns)], notes)


def epoch_caps(plan: list[PlannedJob]) -> dict[str, int]:
    """job id -> its epoch cap (TrainSettings.epochs) from the run plan."""
    return {j.id: j.spec.train.epochs for j in plan if isinstance(j.spec, TrainJob)}

