"""What the reducer hands the report side: each stage merged (`MergeResult`) and the run as a whole (`RunData`).

Its own module so tables, figures and the report depend on the data they read, not on the code that merges it
(the old reduce -> report -> tables -> reduce import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
import pyarrow as pa

from sercore.specs import ModelSpec

from ..paths import RunPaths
from ..planned import PlannedJob
from .params import ParamKey, decode

STATUS_COLUMNS = ["job_id", "stage", "status", "reason"]
WAVEFORM = "waveform"  # AttackJob.domain of attacks on the sound
MODEL_STAGES = ("train", "norm_study", "arch_study", "attack")  # rows that carry the model's head (`model_output`)


@dataclass
class MergeResult:
    """One stage merged: the rows of every readable shard and each job's status."""

    stage: str
    table: pa.Table
    status: pd.DataFrame  # job_id, stage, status (ok | missing | failed | unreadable | unplanned), reason
    plan: list[PlannedJob] = field(default_factory=list)

    @cached_property
    def param_keys(self) -> dict[str | None, ParamKey]:
        """Each distinct `params` of the rows, decoded once (runner.reduce.params)."""
        if "params" not in self.table.column_names:
            return {}
        return decode(self.table.column("params").unique().to_pylist())

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as pandas; merge's typed columns come as arrays (lists) and dicts (maps, structs), and `params`
        as ParamKeys."""
        df = self.table.to_pandas(maps_as_pydicts="strict")
        return df.assign(params=df.params.map(self.param_keys)) if "params" in df else df

    @property
    def problems(self) -> pd.DataFrame:
        return self.status[~self.status.status.isin(["ok", "unplanned"])]

    @property
    def complete(self) -> bool:
        return self.problems.empty


@dataclass
class RunData:
    """Everything the tables, figures and report read: merged frames, planned jobs and job statuses."""

    paths: RunPaths
    stages: dict[str, MergeResult]
    notes: list[str] = field(default_factory=list)  # what the report skipped and why (a corrupt examples.npz)

    def frame(self, stage: str) -> pd.DataFrame:
        """A stage's rows; for `attack`, the spectrogram-domain ones of no failure check (what the paper's tables are
        made of)."""
        res = self.stages.get(stage)
        df = res.frame if res is not None else pd.DataFrame()
        if stage in MODEL_STAGES and not df.empty and "model_output" not in df:  # shards from before the column
            df = df.assign(model_output=ModelSpec.model_fields["output"].default)
        if stage == "attack" and "check" in df:  # failure checks' rows: no robustness number (check_frame)
            df = df[df["check"].isna()]
        return df[df["domain"] != WAVEFORM] if stage == "attack" and "domain" in df else df

    def check_frame(self) -> pd.DataFrame:
        """The attack rows of failure-check jobs (`AttackJob.check`, e.g. the unbounded attack): read by
        runner.reduce.attack_checks only, never by a robustness table."""
        res = self.stages.get("attack")
        df = res.frame if res is not None else pd.DataFrame()
        if "check" not in df:
            return df.iloc[:0]
        if "model_output" not in df:
            df = df.assign(model_output=ModelSpec.model_fields["output"].default)
        return df[df["check"].notna()].reset_index(drop=True)

    def waveform_frame(self) -> pd.DataFrame:
        """The attack rows of `domain: waveform` jobs (sercore.waveform_attack): tables of their own."""
        res = self.stages.get("attack")
        df = res.frame if res is not None else pd.DataFrame()
        return df[df["domain"] == WAVEFORM].reset_index(drop=True) if "domain" in df else df.iloc[:0]

    def plan(self, stage: str) -> list[PlannedJob]:
        """A stage's planned jobs; for `attack`, the spectrogram-domain ones that are no failure check (as `frame`)."""
        res = self.stages.get(stage)
        jobs = res.plan if res is not None else []
        if stage != "attack":
            return jobs
        return [j for j in jobs
                if getattr(j.spec, "domain", None) != WAVEFORM and getattr(j.spec, "check", None) is None]

    @property
    def status(self) -> pd.DataFrame:
        frames = [r.status for r in self.stages.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=STATUS_COLUMNS)
