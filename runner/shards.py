"""Which shards of a stage can be trusted: listing, the one validity check, and setting corrupt ones aside.

A shard counts as done only if its Parquet footer reads, it has the runner's columns (every worker adds
job_id, stage, host, device, finished_at), enough rows (>= 1; attack slices may legitimately be empty), and its
`job_id` column statistics name this job (a shard copied under another job's name is not that job's result),
and the artefacts its later readers need pass their checks (sercore.artefacts): a train row (it has `n_params`)
promises model.keras, scaler.npz and summary.json, an attack row (`y_adv`) examples.npz; a corrupt or missing
one is set aside to RUN/quarantine/<stage>/<id>/ with its reason, and the shard with it, so the job is redone.
An invalid shard is moved to RUN/quarantine/<stage>/<id>.<UTC time>.parquet with a `.reason.txt` (never
deleted) and `errors/<id>.txt` gets the reason, so `status` shows the job as failed and `submit` redoes it.

Footer checks cost ~0.3 ms each, so results are remembered in a hidden `shards/<stage>/.checked.json`
({id: [size, mtime_ns] of the shard, then of each promised artefact}): a rerun against 10,000 unchanged shards
costs a few stats per shard.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sercore.artefacts import ATTACK_ARTEFACTS, TRAIN_ARTEFACTS, first_problem
from sercore.io import parquet_footer, set_aside, write_json, write_text

from .locks import JobBusy, locked
from .paths import RunPaths
from .sanitize import printable

log = logging.getLogger(__name__)

RUN_COLUMNS = ("job_id", "stage", "host", "device", "finished_at")
MIN_ROWS = {"attack": 0}  # a slice past the end of a small test set has no rows; every other job has >= 1
CHECKED = ".checked.json"
CORRUPT = "CorruptShard"
_THREADS = min(16, (os.cpu_count() or 2) * 4)
# Stage -> (the shard column that marks a real job's rows, the artefacts such a job leaves for later readers).
# A job without the column (an empty attack slice, a test's fake job) promised none.
PROMISED = {**{s: ("n_params", TRAIN_ARTEFACTS) for s in ("train", "arch_study", "norm_study")},
            "attack": ("y_adv", ATTACK_ARTEFACTS)}


@dataclass
class StageShards:
    """A stage's shard folder against its plan: trusted ids, invalid ones (id -> reason), unplanned ids."""

    good: set[str] = field(default_factory=set)
    bad: dict[str, str] = field(default_factory=dict)
    unplanned: set[str] = field(default_factory=set)


def job_files(folder: Path, suffix: str) -> dict[str, os.DirEntry]:
    """job id -> directory entry of each finished `<id><suffix>` file in `folder`; temp ('.x.tmp') and '_'
    names are skipped (as pyarrow skips them). The one lister of shard and error folders."""
    try:
        with os.scandir(folder) as it:
            return {e.name[: -len(suffix)]: e for e in it
                    if e.name.endswith(suffix) and not e.name.startswith((".", "_")) and e.is_file()}
    except FileNotFoundError:
        return {}


def list_shards(paths: RunPaths, stage: str) -> dict[str, os.DirEntry]:
    """job id -> directory entry of each finished shard of `stage`."""
    return job_files(paths.shard_dir(stage), ".parquet")


def error_reason(paths: RunPaths, job_id: str) -> str:
    """The one-line reason of a failed job, as `status` and the report show it.

    The worker writes `<ExceptionType>: <message>`, a blank line, then the traceback: its first line. A file
    that is a bare Python traceback (written by hand or an older worker) ends with that line: its last one.
    """
    try:
        text = paths.error(job_id).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no error file)"
    except OSError as exc:
        return f"error file unreadable ({exc.strerror})"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "(empty error file)"
    return printable(lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0])


def shard_problem(path: Path, stage: str, job_id: str) -> str | None:
    """Why this shard is not a valid result of `job_id`, or None."""
    meta, problem = parquet_footer(path, RUN_COLUMNS, MIN_ROWS.get(stage, 1))
    if problem:
        return problem
    col = meta.schema.names.index("job_id")
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is not None and stats.has_min_max and {stats.min, stats.max} != {job_id}:
            found = stats.min if stats.min != job_id else stats.max
            return f"holds rows of job {found!r}, not {job_id!r} (a copied or renamed shard)"
    bad = bad_artefact(path, meta.schema.names, stage, job_id)
    return None if bad is None else f"artefact {bad[1]}"


def artefact_dir(shard: Path, stage: str, job_id: str) -> Path:
    """RUN/artefacts/<stage>/<id> of the shard RUN/shards/<stage>/<id>.parquet."""
    return shard.parents[2] / "artefacts" / stage / job_id


def bad_artefact(shard: Path, columns: list[str], stage: str, job_id: str) -> tuple[Path, str] | None:
    """(artefact, problem) of the first promised artefact of this shard's job that fails its check, or None."""
    marker, names = PROMISED.get(stage, ("", ()))
    if not names or marker not in columns:
        return None
    return first_problem(artefact_dir(shard, stage, job_id), names, job_id)


def check_stage(paths: RunPaths, stage: str, planned: list[str] | set[str], *, repair: bool) -> StageShards:
    """Validate the planned shards of one stage; with `repair`, set the invalid ones aside (see module doc)."""
    entries = list_shards(paths, stage)
    checked = _read_checked(paths, stage)
    out = StageShards(unplanned=set(entries) - set(planned))
    fresh: dict[str, list[int]] = {}
    unchecked: list[tuple[str, Path, list[int]]] = []
    for job_id in planned:
        entry = entries.get(job_id)
        if entry is None:
            continue
        key = _stat_key(Path(entry.path), stage, job_id)
        if checked.get(job_id) == key:
            out.good.add(job_id)
            fresh[job_id] = key
        else:
            unchecked.append((job_id, Path(entry.path), key))
    _check_footers(stage, unchecked, out, fresh)
    if fresh != checked:
        try:
            write_json(paths.shard_dir(stage) / CHECKED, fresh)
        except OSError:  # a read-only run folder: checks are just not remembered
            pass
    if repair:
        _set_aside_bad(paths, stage, out)
    else:
        out.bad = {j: f"{CORRUPT}: {p} (the next submit sets it aside and redoes the job)" for j, p in out.bad.items()}
    return out


def _check_footers(stage: str, unchecked: list[tuple[str, Path, list[int]]], out: StageShards,
                   fresh: dict[str, list[int]]) -> None:
    """Check the shards not checked since they last changed: good ones into `out.good` and `fresh`, the others
    into `out.bad` with their problem. Footer reads are I/O-bound (a network filesystem's latency, not CPU):
    overlap them as the reducer does."""
    with ThreadPoolExecutor(min(_THREADS, max(1, len(unchecked)))) as pool:
        problems = pool.map(lambda item: shard_problem(item[1], stage, item[0]), unchecked)
        for (job_id, _, key), problem in zip(unchecked, problems, strict=True):
            if problem is None:
                out.good.add(job_id)
                fresh[job_id] = key
            else:
                out.bad[job_id] = problem


def _set_aside_bad(paths: RunPaths, stage: str, out: StageShards) -> None:
    """Quarantine every bad shard; one whose job runs right now (it will write a fresh shard) is left alone."""
    for job_id, problem in list(out.bad.items()):
        try:
            reason = quarantine(paths, stage, job_id, problem)
        except JobBusy:
            reason = None
        if reason:
            out.bad[job_id] = reason
        else:
            out.bad.pop(job_id)


def quarantine(paths: RunPaths, stage: str, job_id: str, problem: str) -> str | None:
    """Move the shard aside under the job's lock; write the reason to errors/<id>.txt and return it.

    None when the shard is gone or valid by the time the lock is held (another process redid the job)."""
    shard = paths.shard(stage, job_id)
    with locked(paths.lock(stage, job_id), what=f"{stage} job {job_id}"):
        if not shard.exists():
            return None
        problem = shard_problem(shard, stage, job_id) or ""
        if not problem:
            return None
        return set_aside_shard(paths, stage, job_id, problem)


def set_aside_shard(paths: RunPaths, stage: str, job_id: str, problem: str) -> str:
    """The move itself, with the corrupt artefact that made the shard invalid, if any; the caller holds the
    job's lock. The artefact goes to RUN/quarantine/<stage>/<id>/ (kept, never deleted)."""
    shard = paths.shard(stage, job_id)
    meta, _ = parquet_footer(shard)
    bad = bad_artefact(shard, meta.schema.names, stage, job_id) if meta is not None else None
    moved = ""
    if bad is not None and bad[0].exists():
        art = set_aside(bad[0], paths.quarantine(stage) / job_id, bad[1])
        moved = f"{art.relative_to(paths.root)} and "
    dest = set_aside(shard, paths.quarantine(stage), problem)
    reason = f"{CORRUPT}: {problem}; set aside to {moved}{dest.relative_to(paths.root)}"
    write_text(paths.error(job_id), f"{reason}\n")
    log.warning("%s shard %s: %s", stage, job_id, reason)
    return reason


def shard_ok(paths: RunPaths, stage: str, job_id: str) -> bool:
    """The worker's check: a shard exists and is valid (caller holds the job's lock to repair)."""
    shard = paths.shard(stage, job_id)
    return shard.exists() and shard_problem(shard, stage, job_id) is None


def _stat_key(shard: Path, stage: str, job_id: str) -> list[int]:
    """[size, mtime_ns] of the shard and of each artefact its stage may promise ([-1, -1] when absent)."""
    key = []
    folder = artefact_dir(shard, stage, job_id)
    for path in (shard, *(folder / n for n in PROMISED.get(stage, ("", ()))[1])):
        try:
            st = path.stat()
            key += [st.st_size, st.st_mtime_ns]
        except FileNotFoundError:
            key += [-1, -1]
    return key


def _read_checked(paths: RunPaths, stage: str) -> dict[str, list[int]]:
    try:
        return json.loads((paths.shard_dir(stage) / CHECKED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
