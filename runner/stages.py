"""The stage table: each stage of a run declared once, in dependency order.

Expansion (`runner.expand`), the run folder's names (`runner.paths.STAGES`), the worker (which stage holds a
training job), dispatch (what a Slurm array waits for) and the cost model read this table instead of keeping
their own lists. Adding a stage = a spec in `sercore/specs.py`, its entry in `sercore/jobs.py`, a row here, its
expansion in `runner/expand.py` and its cost formula in `runner/cost.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sercore.specs import AttackJob, FeaturesJob, Spec, TrainJob, TransferJob, TuneJob


@dataclass(frozen=True)
class Stage:
    """One stage: its name (plan file, shard folder, grid key), the spec class of its jobs, the stage its jobs'
    plan `upstream` lives in, the other stages its jobs read (`needs`: Slurm waits for them too), and for the
    model stages the `TrainJob.study` they train."""

    name: str
    spec: type[Spec]
    upstream: str | None = None
    needs: tuple[str, ...] = ()
    study: str | None = None


TABLE: tuple[Stage, ...] = (
    Stage("features", FeaturesJob),
    Stage("tune", TuneJob, upstream="features"),
    Stage("norm_study", TrainJob, upstream="features", study="norm"),
    Stage("arch_study", TrainJob, upstream="features", study="arch"),
    Stage("train", TrainJob, upstream="features", study="final"),
    Stage("attack", AttackJob, upstream="train"),
    # transfer replays the attacks on target models: the final ones first, then the studies'
    Stage("transfer", TransferJob, upstream="attack", needs=("train", "arch_study", "norm_study")),
)

STAGES: tuple[str, ...] = tuple(s.name for s in TABLE)
BY_NAME: dict[str, Stage] = {s.name: s for s in TABLE}
STUDY: dict[str, str] = {s.name: s.study for s in TABLE if s.study}  # model stage -> TrainJob.study
MODEL_STAGES: tuple[str, ...] = tuple(s.name for s in TABLE if s.upstream == "features")  # one sweep shape each
TRANSFER_TARGETS: tuple[str, ...] = BY_NAME["transfer"].needs


def needs(stage: str) -> set[str]:
    """Every stage whose shards this stage's jobs may read (beyond what each plan entry names)."""
    row = BY_NAME[stage]
    return {*([row.upstream] if row.upstream else []), *row.needs}


def model_stage(job: TrainJob) -> str:
    """The stage that runs a training job: final models in `train`, the studies in their own stages."""
    return next(s.name for s in TABLE if s.study == job.study)
