"""What the reducer hands the report side: each stage merged (`MergeResult`) and the run as a whole (`RunData`).

Its own module so tables, figures and the report depend on the data they read, not on the code that merges it
(the old reduce -> report -> tables -> reduce import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from ..paths import RunPaths
from ..planned import PlannedJob

STATUS_COLUMNS = ["job_id", "stage", "status", "reason"]


@dataclass
class MergeResult:
    """One stage merged: the rows of every readable shard and each job's status."""

    stage: str
    table: pa.Table
    status: pd.DataFrame  # job_id, stage, status (ok | missing | failed | unreadable | unplanned), reason
    plan: list[PlannedJob] = field(default_factory=list)

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.to_pandas()

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
        res = self.stages.get(stage)
        return res.frame if res is not None else pd.DataFrame()

    def plan(self, stage: str) -> list[PlannedJob]:
        res = self.stages.get(stage)
        return res.plan if res is not None else []

    @property
    def status(self) -> pd.DataFrame:
        frames = [r.status for r in self.stages.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=STATUS_COLUMNS)
