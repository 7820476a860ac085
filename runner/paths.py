"""RunPaths: the one class that owns every file name inside a run folder.

    RUN/
      grid.yaml                  frozen copy of the grid as submitted (after --set overrides)
      run.json                   name, source grid, absolute cache folder, stages (read by workers)
      plan/<stage>.jsonl         one line per job: {"id": ..., "stage": ..., "spec": {...}, "upstream": id|null}
      shards/<stage>/<id>.parquet    one shard per finished job (written atomically)
      artefacts/<stage>/<id>/    a job's work folder: models, histories, attack chunks, examples
      errors/<id>.txt            traceback of the last failed attempt (removed when the job later succeeds)
      logs/<stage>/              submitit folders and Slurm stdout/stderr; <id>.log per job of the local executor
      logs/<stage>/submitted.json    Slurm ids of the last submission: {"arrays": [...], "jobs": {id: "A_i"}}
      locks/<stage>/<id>.lock    flock held while the job runs (holder pid/host, attempt count); submit.lock
      quarantine/<stage>/        corrupt shards set aside (<id>.<UTC time>.parquet + .reason.txt), never deleted
      superseded/<stage>/        shards and artefact folders of jobs redone on purpose (--force, --rerun-stale)
      replaced/<UTC time>/       grid.yaml, run.json and plan/ of a grid replaced with `submit --replace-grid`
      cache/                     feature stores + synthetic corpus, unless the grid names another cache
      results/<stage>.parquet    compacted shards (reduce)
      report/                    tables, figures, audio, index.html, README.md (reduce)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .stages import STAGES

__all__ = ["STAGES", "RunPaths"]


class _Under:
    """A fixed path under the run folder, read as an attribute (`paths.grid`)."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, paths: RunPaths, owner: type | None = None) -> Path:
        return paths.root.joinpath(*self.parts)


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    # fixed names under the run folder
    grid = _Under("grid.yaml")
    run_meta = _Under("run.json")
    error_dir = _Under("errors")
    cache = _Under("cache")
    submit_lock = _Under("locks", "submit.lock")
    replaced_dir = _Under("replaced")

    @property
    def results_dir(self) -> Path:  # a property: reduce --out moves results/ and report/ (reduce.publish.OutPaths)
        return self.root / "results"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def plan(self, stage: str) -> Path:
        return self.root / "plan" / f"{stage}.jsonl"

    def shard_dir(self, stage: str) -> Path:
        return self.root / "shards" / stage

    def shard(self, stage: str, job_id: str) -> Path:
        return self.shard_dir(stage) / f"{job_id}.parquet"

    def artefacts(self, stage: str, job_id: str) -> Path:
        return self.root / "artefacts" / stage / job_id

    def error(self, job_id: str) -> Path:
        return self.error_dir / f"{job_id}.txt"

    def logs(self, stage: str) -> Path:
        return self.root / "logs" / stage

    def submitted(self, stage: str) -> Path:
        return self.logs(stage) / "submitted.json"

    def results(self, stage: str) -> Path:
        return self.results_dir / f"{stage}.parquet"

    def lock(self, stage: str, job_id: str) -> Path:
        return self.root / "locks" / stage / f"{job_id}.lock"

    def quarantine(self, stage: str) -> Path:
        return self.root / "quarantine" / stage

    def superseded(self, stage: str) -> Path:
        return self.root / "superseded" / stage

    def job_log(self, stage: str, job_id: str) -> Path:
        return self.logs(stage) / f"{job_id}.log"
