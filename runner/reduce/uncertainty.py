"""95 % bootstrap intervals over test samples for the report's accuracies and perturbations (T3, T5, T6, sweeps).

Each interval resamples every seed's test samples on its own and averages the seeds (sercore.stats.mean_ci), so
it is the uncertainty of the number in the cell due to the finite test set; the spread between seeds stays the
separate ± std. Settings (resamples, seed, level, method) come from the run's grid, key `statistics`.
"""

from __future__ import annotations

import logging

import pandas as pd
import yaml
from pydantic import ValidationError

from sercore.errors import ConfigError
from sercore.stats import StatsSettings, mean_ci
from sercore.strict import pydantic_problems

from ..paths import RunPaths
from . import aggregate as agg

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


def attack_cis(rows: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """Per configuration (ATTACK_KEYS): `<metric>_lo` / `<metric>_hi` for every metric of ATTACK_CI."""
    if rows.empty:
        return pd.DataFrame(columns=agg.ATTACK_KEYS)
    out = []
    for key, grp in rows.groupby(agg.ATTACK_KEYS, dropna=False, sort=False):
        rec = dict(zip(agg.ATTACK_KEYS, key, strict=True))
        for metric, (col, gender) in ATTACK_CI.items():
            if col in grp:
                _, rec[f"{metric}_lo"], rec[f"{metric}_hi"] = mean_ci(strata(grp, col, gender), settings)
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
    """T3's rows (one per `keys` group of train rows) get `<metric>_lo/_hi` from the models' test predictions."""
    if stats.empty or preds.empty or "job_id" not in train:
        return stats
    seeds = train.set_index("job_id")["seed"]
    preds = preds.assign(seed=preds.job_id.map(seeds))
    records = []
    for key, grp in train.groupby(keys, dropna=False, sort=False):
        rec = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        sub = preds[preds.job_id.isin(grp.job_id)]
        for metric, gender in CLEAN_CI.items():
            _, rec[f"{metric}_lo"], rec[f"{metric}_hi"] = mean_ci(strata(sub, "correct", gender), settings)
        records.append(rec)
    cis = pd.DataFrame(records)
    for k in keys:  # group keys may be numpy/bool vs object after groupby: compare as text
        cis[k] = cis[k].astype(str)
    merged = stats.assign(**{f"_{k}": stats[k].astype(str) for k in keys})
    merged = merged.merge(cis.rename(columns={k: f"_{k}" for k in keys}), on=[f"_{k}" for k in keys], how="left")
    return merged.drop(columns=[f"_{k}" for k in keys])


def ci_note(settings: StatsSettings) -> str:
    return (f"[lo, hi]: {settings.confidence:.0%} bootstrap CI over test samples ({settings.resamples} resamples, "
            f"{settings.method}; each seed's test set resampled on its own); ± std over seeds where there are several.")


def ci_text(r: pd.Series, metric: str, spec: str | tuple[str, str]) -> str:
    """A table cell: mean [lo, hi] ± std (whatever of these the row has)."""
    return agg.fmt_ci(r.get(f"{metric}_mean"), r.get(f"{metric}_lo"), r.get(f"{metric}_hi"),
                      r.get(f"{metric}_std"), spec)
