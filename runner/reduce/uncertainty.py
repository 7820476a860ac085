"""95 % bootstrap intervals for the report's accuracies and perturbations (T3, T5, T6, sweeps), over recordings.

Each interval resamples whole source recordings (sercore.stats.cluster_mean_ci): every segment and augmented
version of one recording moves together, since they are not independent samples; a recording tested by several
seeds is drawn once for all of them, and the number is the mean over seeds of each seed's mean. Columns per
metric: `<metric>_lo/_hi` (recording level), `<metric>_n_eff` (distinct recordings: the effective n),
`<metric>_n_eff_design` (rows over the design effect) and `<metric>_seg_lo/_seg_hi`, the segment-level interval
(as the paper would have it: segments independent); `ci_unit` names the unit. The spread between seeds stays
the separate ± std. Settings (resamples, seed, level, method) come from the run's grid, key `statistics`.
"""

from __future__ import annotations

import logging

import pandas as pd
import yaml
from pydantic import ValidationError

from sercore.errors import ConfigError
from sercore.stats import Interval, StatsSettings, cluster_mean_ci, mean_ci
from sercore.strict import pydantic_problems

from ..paths import RunPaths
from . import aggregate as agg
from .cells import fmt_ci

log = logging.getLogger(__name__)

# metric -> (0/1 or numeric column of the keyed attack rows, gender or None)
ATTACK_CI = {"accuracy": ("correct", None), "accuracy_male": ("correct", "male"),
             "accuracy_female": ("correct", "female"), "success_rate": ("fooled", None),
             "clean_accuracy": ("clean_correct", None), "perturbation": ("perturbation", None),
             "perturbation_male": ("perturbation", "male"), "perturbation_female": ("perturbation", "female")}
CLEAN_CI = {"accuracy": None, "accuracy_male": "male", "accuracy_female": "female"}


def run_settings(paths: RunPaths) -> StatsSettings:
    """The `statistics` block of the run's frozen grid.yaml (defaults when the grid has none)."""
    try:
        raw = yaml.safe_load(paths.grid.read_text(encoding="utf-8")) if paths.grid.is_file() else {}
    except yaml.YAMLError:
        raw = {}
    block = (raw or {}).get("statistics") if isinstance(raw, dict) else None
    try:
        return StatsSettings.model_validate(block or {})
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(exc, str(paths.grid), "statistics")[0]) from exc


def strata(rows: pd.DataFrame, column: str, gender: str | None = None, by: str = "seed") -> list:
    """One array of `column` per seed (optionally one gender only): the input of sercore.stats."""
    sub = rows if gender is None else rows[rows.gender.astype(str) == gender]
    return [g[column].to_numpy(float) for _, g in sub.groupby(by, sort=True)] if len(sub) else []


def recording_ids(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """(the source recording of every row, the unit's name): `recording` (dataset:path), else `path` (the source
    file; one corpus per configuration), else each row on its own ("segment", for rows that lack both)."""
    if "recording" in rows and rows["recording"].notna().all():
        return rows["recording"].astype(str), "recording"
    if "path" in rows and rows["path"].notna().all():
        ds = rows["dataset"].astype(str) + ":" if "dataset" in rows else ""
        return ds + rows["path"].astype(str), "recording"
    return pd.Series(rows.index.astype(str), index=rows.index), "segment"


def recording_ci(rows: pd.DataFrame, column: str, settings: StatsSettings, gender: str | None = None,
                 by: str = "seed", seed: int = 0) -> Interval:
    """The mean over seeds of `column` (one gender or all) with its CI over whole recordings."""
    sub = rows if gender is None else rows[rows.gender.astype(str) == gender]
    ids, unit = recording_ids(sub)
    groups = list(sub.assign(_rec=ids).groupby(by, sort=True)) if len(sub) else []
    return cluster_mean_ci([g[column].to_numpy(float) for _, g in groups], [g["_rec"].to_numpy() for _, g in groups],
                           settings, seed, unit)


def _interval_columns(rec: dict, metric: str, rows: pd.DataFrame, column: str, gender: str | None,
                      settings: StatsSettings) -> None:
    """Recording-level CI, its effective n, and the segment-level CI (as the paper) of one metric, into `rec`."""
    iv = recording_ci(rows, column, settings, gender)
    rec[f"{metric}_lo"], rec[f"{metric}_hi"] = iv.low, iv.high
    rec[f"{metric}_n_eff"], rec[f"{metric}_n_eff_design"] = iv.n_clusters, iv.n_eff_design
    rec.setdefault("ci_unit", iv.unit)
    _, rec[f"{metric}_seg_lo"], rec[f"{metric}_seg_hi"] = mean_ci(strata(rows, column, gender), settings)


def attack_cis(rows: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """Per configuration (ATTACK_KEYS): the interval columns (module docstring) of every metric of ATTACK_CI."""
    if rows.empty:
        return pd.DataFrame(columns=agg.ATTACK_KEYS)
    out = []
    for key, grp in rows.groupby(agg.ATTACK_KEYS, dropna=False, sort=False):
        rec = dict(zip(agg.ATTACK_KEYS, key, strict=True))
        for metric, (col, gender) in ATTACK_CI.items():
            if col in grp:
                _interval_columns(rec, metric, grp, col, gender, settings)
        out.append(rec)
    return pd.DataFrame(out)


def with_attack_cis(configs: pd.DataFrame, rows: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    if configs.empty or rows.empty:
        return configs
    return configs.merge(attack_cis(rows, settings), on=agg.ATTACK_KEYS, how="left")


def train_predictions(paths: RunPaths, job_ids: list[str], stage: str = "train") -> pd.DataFrame:
    """Per-sample test predictions of train jobs (their predictions.parquet) with `job_id` and `correct`."""
    frames = []
    for job_id in job_ids:
        path = paths.artefacts(stage, job_id) / "predictions.parquet"
        if not path.is_file():
            continue
        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            log.warning("%s unreadable (%s): no interval for this model", path, exc)
            continue
        frames.append(df.assign(job_id=job_id, correct=(df.y_pred == df.y_true).astype(float)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def with_clean_cis(stats: pd.DataFrame, train: pd.DataFrame, preds: pd.DataFrame, keys: list[str],
                   settings: StatsSettings) -> pd.DataFrame:
    """T3's rows (one per `keys` group of train rows) get the interval columns from the models' test predictions
    (their `path` is the source recording)."""
    if stats.empty or preds.empty or "job_id" not in train:
        return stats
    seeds = train.set_index("job_id")["seed"]
    preds = preds.assign(seed=preds.job_id.map(seeds))
    records = []
    for key, grp in train.groupby(keys, dropna=False, sort=False):
        rec = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        sub = preds[preds.job_id.isin(grp.job_id)]
        for metric, gender in CLEAN_CI.items():
            _interval_columns(rec, metric, sub, "correct", gender, settings)
        records.append(rec)
    cis = pd.DataFrame(records)
    for k in keys:  # group keys may be numpy/bool vs object after groupby: compare as text
        cis[k] = cis[k].astype(str)
    merged = stats.assign(**{f"_{k}": stats[k].astype(str) for k in keys})
    merged = merged.merge(cis.rename(columns={k: f"_{k}" for k in keys}), on=[f"_{k}" for k in keys], how="left")
    return merged.drop(columns=[f"_{k}" for k in keys])


UNIT_SHORT = {"recording": "rec.", "segment": "seg.", "speaker": "spk."}


def ci_note(settings: StatsSettings, unit: str = "recording") -> str:
    """The note under a table of intervals: what was resampled, and the effective n shown in the cells."""
    how = f"{settings.confidence:.0%} bootstrap CI ({settings.resamples} resamples, {settings.method})"
    if unit == "segment":
        return (f"[lo, hi]: {how} over test segments, segment-level (as the paper: segments treated as independent, "
                "each seed's test set resampled on its own); ± std over seeds where there are several.")
    return (f"[lo, hi]: {how} over whole source recordings (every segment and augmented version of a recording "
            "drawn together; a recording tested by several seeds drawn once for all); (N rec.): the effective n, "
            "the number of distinct test recordings; ± std over seeds where there are several. Segment-level "
            "intervals (as the paper) are in the CSV as `<metric>_seg_lo/_seg_hi`.")


def ci_text(r: pd.Series, metric: str, spec: str | tuple[str, str]) -> str:
    """A table cell: mean [lo, hi] ± std (N rec.) (whatever of these the row has)."""
    text = fmt_ci(r.get(f"{metric}_mean"), r.get(f"{metric}_lo"), r.get(f"{metric}_hi"),
                      r.get(f"{metric}_std"), spec)
    n, lo = r.get(f"{metric}_n_eff"), r.get(f"{metric}_lo")
    if n is None or pd.isna(n) or lo is None or pd.isna(lo):
        return text
    return f"{text} ({n:.0f} {UNIT_SHORT.get(str(r.get('ci_unit')), str(r.get('ci_unit')))})"
