"""The worker: one planned job -> one shard. Runs the same in-process (local/debug) and on a Slurm node.

Idempotent: a job whose valid shard exists returns at once, and finished shards are never rewritten; a job runs
under its per-job flock (runner.locks), so it never runs twice at once. The shard is
written atomically; a failure leaves `errors/<id>.txt` (one-line reason, then the traceback) and re-raises so the
executor records the failure. `Worker` is a submitit Checkpointable: on TIMEOUT or preemption submitit requeues
the same call, which re-enters `run_one`; the job itself resumes from what it persisted in its artefact folder
(attack chunks, keras BackupAndRestore, tuner state). Ctrl-C or SIGTERM in a local run stops the job with an
error file naming the signal (runner.interrupt); a lock that cannot be opened fails it naming the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import submitit

from sercore.env import JobEnv
from sercore.errors import JobError
from sercore.io import write_parquet, write_text
from sercore.specs import TransferJob

from .interrupt import as_interrupted, signals_raise
from .locks import LockError, locked
from .paths import RunPaths
from .plan import find_entry, read_meta
from .provenance import code_columns
from .quiet import quiet
from .shards import set_aside_shard, shard_ok, shard_problem
from .stages import model_stage
from .trace import JobClock

log = logging.getLogger(__name__)

FAULT_ENV = "SERTACK_FAULT_INJECT"


def run_one(run_dir: str | Path, stage: str, job_id: str, *, wait: bool = False) -> Path:
    """Run one job of the plan and return its shard path (skips the work if a valid shard already exists)."""
    return execute(run_dir, stage, job_id, wait=wait)[0]


def execute(run_dir: str | Path, stage: str, job_id: str, *, wait: bool = False) -> tuple[Path, bool]:
    """(shard, whether this call ran the job). The job runs under its lock (runner.locks), so two submits or
    a duplicated Slurm task never run it twice at once: the second raises JobBusy (wait=False) or waits and
    then finds the shard. An invalid shard is set aside (runner.shards) and the job redone."""
    paths = RunPaths(Path(run_dir))
    shard = paths.shard(stage, job_id)
    if shard_ok(paths, stage, job_id):
        return shard, False
    with signals_raise(), _lock_failure(paths, job_id), \
            locked(paths.lock(stage, job_id), wait=wait, what=f"{stage} job {job_id}") as held:
        if shard.exists():
            problem = shard_problem(shard, stage, job_id)
            if problem is None:  # another process finished it while we waited
                return shard, False
            set_aside_shard(paths, stage, job_id, problem)
        held.attempt()
        _run_locked(paths, stage, job_id, shard)
    return shard, True


@contextlib.contextmanager
def _lock_failure(paths: RunPaths, job_id: str) -> Iterator[None]:
    """A lock that cannot be opened fails the job with an error file naming the lock (status shows it)."""
    try:
        yield
    except LockError as exc:
        _write_error(paths, job_id, exc)
        raise


def _run_locked(paths: RunPaths, stage: str, job_id: str, shard: Path) -> None:
    try:
        clock = JobClock()
        df = _run(paths, stage, job_id)
        df = df.assign(
            job_id=job_id,
            stage=stage,
            host=socket.gethostname(),
            device=_device(),
            **container_provenance(),
            **code_columns(len(df)),
            **clock.columns(),
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        write_parquet(df, shard)
    except Exception as exc:  # not SystemExit: a requeue is no failure
        _write_error(paths, job_id, exc)
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (runner.interrupt): say so, then stop
        _write_error(paths, job_id, as_interrupted(exc))
        raise
    paths.error(job_id).unlink(missing_ok=True)


def _run(paths: RunPaths, stage: str, job_id: str) -> pd.DataFrame:
    from sercore.jobs import run_job

    entry = find_entry(paths, stage, job_id)
    upstream = None
    if entry.upstream is not None:
        up_stage = entry.upstream_stage or "train"
        if not paths.shard(up_stage, entry.upstream).exists():
            raise JobError(f"upstream {up_stage} job {entry.upstream} has no shard")
        if up_stage == "train":
            upstream = paths.artefacts(up_stage, entry.upstream)
    _fault_inject(job_id)
    env = JobEnv(cache_dir=Path(read_meta(paths)["cache"]), upstream=upstream)
    spec = entry.spec
    if spec.kind == "transfer":
        env = transfer_env(paths, spec, env.cache_dir)
    df = run_job(spec, paths.artefacts(stage, job_id), env)
    if not isinstance(df, pd.DataFrame):
        raise JobError(f"{stage} job {job_id}: job function returned {type(df).__name__}, not a DataFrame")
    return df


def transfer_env(paths: RunPaths, spec: TransferJob, cache_dir: Path) -> JobEnv:
    """A transfer job reads the target model (upstream), the source model and every source attack job."""
    needed = [("attack", a.job_id) for a in spec.attacks] + [(model_stage(spec.source), spec.source.job_id),
                                                              (model_stage(spec.target), spec.target.job_id)]
    for stage, job_id in needed:
        if not paths.shard(stage, job_id).exists():
            raise JobError(f"upstream {stage} job {job_id} has no shard")
    inputs = {a.job_id: paths.artefacts("attack", a.job_id) for a in spec.attacks}
    inputs["source"] = paths.artefacts(needed[-2][0], spec.source.job_id)
    return JobEnv(cache_dir=cache_dir, upstream=paths.artefacts(needed[-1][0], spec.target.job_id), inputs=inputs)


def _write_error(paths: RunPaths, job_id: str, exc: BaseException) -> None:
    """First line: the reason `status` shows; then the full traceback."""
    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
    text = "".join(traceback.format_exception(exc))
    try:
        write_text(paths.error(job_id), f"{reason}\n\n{text}")
    except OSError:  # never hide the job's own error behind a write failure
        log.exception("could not write the error file of %s", job_id)


def _fault_inject(job_id: str) -> None:
    """Test seam: SERTACK_FAULT_INJECT="<id>:raise,<id>:sleep=90" makes this job fail or sleep."""
    for item in filter(None, os.environ.get(FAULT_ENV, "").split(",")):
        target, _, action = item.strip().partition(":")
        if target != job_id:
            continue
        if action == "raise":
            raise RuntimeError(f"fault injected for job {job_id} ({FAULT_ENV})")
        if action.startswith("sleep="):
            time.sleep(float(action.removeprefix("sleep=")))


def _device() -> str:
    """GPU name when TensorFlow (already loaded by the job) sees one, else `cpu`."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return "cpu"
    try:
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu"))
    except Exception:  # device naming is informational only
        return "gpu"
    return "cpu"


def container_provenance() -> dict[str, str]:
    """Which Apptainer image the job ran in: its path (APPTAINER_CONTAINER) and content hash; "" when bare.

    SERTACK_IMAGE_HASH comes from the image's %environment (containers/sertack-debootstrap.def).
    """
    image = os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER") or ""
    return {"container": image, "image_hash": os.environ.get("SERTACK_IMAGE_HASH", "") if image else ""}


def preempt_signal() -> signal.Signals:
    """The signal submitit's handler requeues on: `JobEnvironment.USR_SIG` (from SUBMITIT_PREEMPT_SIGNAL)."""
    return getattr(signal, "SIG" + submitit.JobEnvironment.USR_SIG, signal.SIGUSR2)


class RequeueOnce(submitit.helpers.Checkpointable):
    """Checkpointable whose checkpoint ignores further preemption signals: under Apptainer both Slurm and the image's
    starter deliver the timeout signal, and a second submitit handler entered while the first saves the requeue
    pickle fails on its temp file ("A temporary saved file already exists", submitit issue #1617) and fails the
    task instead of requeueing it. After the first checkpoint the task only requeues and exits. The signal is the
    one submitit listens for (USR2 unless SUBMITIT_PREEMPT_SIGNAL says otherwise)."""

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        signal.signal(preempt_signal(), signal.SIG_IGN)
        return super().checkpoint(*args, **kwargs)


class Worker(RequeueOnce):
    """A one-job task: `Worker()(run_dir, stage, job_id)`. Submissions now send `runner.pack.PackWorker` (every
    task is a pack); this stays so tasks queued or requeued by earlier versions still unpickle and run.

    Checkpointable's default `checkpoint` resubmits this same call, so a requeued task re-enters `run_one`. A job
    another process holds is waited for, the one busy-job policy (runner.pack explains why).
    """

    def __call__(self, run_dir: str, stage: str, job_id: str) -> str:
        quiet()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        return str(run_one(run_dir, stage, job_id, wait=True))


def release_memory() -> None:
    """In-process runs share one TF runtime: drop the last job's graphs before the next one builds its own.

    Keras's clear_session runs the garbage collector itself (free_memory=True); a second full collection cost
    ~0.3 s per job in a test process, and a process that never imported Keras holds no graphs to drop.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session(free_memory=True)
