"""The one summary of a reduced run that tables, figures, the headline and the report all read: attack rows keyed
by their plan configuration once, means over seeds, the best configuration per attack, and the final models.

Its own module so the table modules depend on the summary, not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from sercore.stats import StatsSettings

from . import aggregate as agg
from . import uncertainty as unc
from .folds import pool_folds
from .robustness import robust_by_config
from .rundata import RunData

VARIANTS = ["protocol", "labels", "estimator", "model_output"]


@dataclass
class Summary:
    """Aggregates shared by tables, figures and the report."""

    train: pd.DataFrame  # final-study train rows
    attack_seeds: pd.DataFrame  # one row per (configuration, seed)
    attack_configs: pd.DataFrame  # mean/std over seeds per configuration
    best: pd.DataFrame  # best configuration per (variants, dataset, attack)
    attack_incomplete: dict[tuple, str]
    train_incomplete: dict[tuple, str]
    variants: list[str]  # of VARIANTS, the ones that take several values in this run
    attack_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-sample rows with plan keys and 0/1s
    # the grid's `statistics` settings
    stats: StatsSettings = field(default_factory=lambda: StatsSettings.model_validate({}))
    train_predictions: pd.DataFrame = field(default_factory=pd.DataFrame)  # final models' per-sample predictions
    # best with the paper's rows (one C&W row: agg.paper_best_configs), for Tables 4-6 and 44-48
    paper_best: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # final-study rows before pooling the folds

    @cached_property
    def robust(self) -> pd.DataFrame:
        """Robust accuracy per (configuration, gender) with its CI (robustness.robust_by_config), bootstrapped once
        per reduce for R02, the headline and the curves."""
        return robust_by_config(self.attack_rows, self.stats) if not self.attack_rows.empty else pd.DataFrame()


def summarize(data: RunData) -> Summary:
    att = data.frame("attack")
    planned_att = agg.plan_keys(data.plan("attack"), data.stages["attack"].status) \
        if "attack" in data.stages else pd.DataFrame()
    seeds = agg.attack_summary(att, planned_att)
    configs = agg.over_seeds(seeds, agg.ATTACK_KEYS, agg.ATTACK_METRICS) if not seeds.empty else seeds
    stats = unc.run_settings(data.paths)
    rows = agg.keyed_attack_rows(att, planned_att)
    configs = unc.with_attack_cis(configs, rows, stats)
    best = agg.best_configs(configs) if not configs.empty else configs
    train = data.frame("train")
    if not train.empty and "study" in train:
        train = train[train.study == "final"]
    runs, train = train, pool_folds(train)  # k-fold rows become one row per configuration and seed
    planned_train = pd.concat([agg.plan_keys(data.plan(s), data.stages[s].status)
                               for s in ("train", "norm_study", "arch_study") if s in data.stages] or
                              [pd.DataFrame()], ignore_index=True)
    variants = [v for v in VARIANTS if len({*_values(configs, v), *_values(train, v)}) > 1]
    return Summary(train=train, attack_seeds=seeds, attack_configs=configs, best=best,
                   attack_incomplete=agg.incomplete_groups(planned_att, agg.ATTACK_KEYS),
                   train_incomplete=agg.incomplete_groups(planned_train, agg.TRAIN_KEYS), variants=variants,
                   attack_rows=rows, stats=stats,
                   train_predictions=unc.train_predictions(data.paths, list(train.job_id) if "job_id" in train else []),
                   paper_best=agg.paper_best_configs(configs) if not configs.empty else configs,
                   train_runs=runs)


def _values(df: pd.DataFrame, col: str) -> set:
    return set(df[col].dropna().astype(str)) if col in df else set()
