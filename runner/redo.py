"""Why each job of a submission runs, and redoing finished jobs on purpose (`--force STAGE`, `--rerun-stale`).

A job runs because it is new (no shard, no error), failed (its error file), corrupt (its shard is invalid), its
parameters changed (a job of the run's previous plan has the same label but another spec: the differing keys
are named), its attack set grew (a transfer job whose source model gained attacks: runner.extend), or it is
redone: forced, made by other code (runner.provenance), or downstream of a redone job.

Redoing moves the job's shard AND its artefact folder to RUN/superseded/<stage>/ (never deleted): the artefacts
hold resumable state (attack chunks, BackupAndRestore, tuner state) that the old code made, so the job must
start from nothing. A redone job's dependants in the selected stages are redone too (their inputs change).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sercore.io import set_aside

from .locks import JobBusy, locked
from .paths import STAGES, RunPaths
from .plan import StageState, read_stage
from .planned import PlannedJob
from .provenance import stale_ids
from .shards import CORRUPT, error_reason

log = logging.getLogger(__name__)

MAX_CHANGES = 3  # differing keys named in a "parameters changed" reason


def select_redo(paths: RunPaths, plan: Mapping[str, list[PlannedJob]], st: Mapping[str, StageState], *,
                force: Sequence[str] = (), rerun_stale: bool = False) -> dict[str, dict[str, str]]:
    """{stage: {job id: reason}} of the done jobs of `plan`'s stages to redo, in stage order."""
    redo: dict[str, dict[str, str]] = {}
    redone: dict[str, str] = {}  # job id -> its stage, every stage so far
    for stage in [s for s in STAGES if s in plan]:
        done = st[stage].done
        reasons: dict[str, str] = {}
        if stage in force:
            reasons.update({j: f"forced (--force {stage})" for j in sorted(done)})
        if rerun_stale:
            for job_id, made_by in stale_ids(paths, stage, done - set(reasons)).items():
                reasons[job_id] = f"code changed (shard made by code {made_by or 'that recorded none'})"
        if redone:
            for e in plan[stage]:
                hit = sorted(_inputs(e) & set(redone)) if e.id in done and e.id not in reasons else []
                if hit:
                    reasons[e.id] = f"upstream redone ({redone[hit[0]]} {hit[0]})"
        redo[stage] = reasons
        redone.update(dict.fromkeys(reasons, stage))
    return redo


def _inputs(entry: PlannedJob) -> set[str]:
    """Ids of the jobs whose shards or artefacts this job reads (a transfer reads models and attacks)."""
    found = {entry.upstream} if entry.upstream else set()
    if entry.stage == "transfer":
        spec: Any = entry.spec
        found |= {a.job_id for a in spec.attacks} | {spec.source.job_id, spec.target.job_id}
    return found


def apply_redo(paths: RunPaths, st: Mapping[str, StageState], redo: Mapping[str, Mapping[str, str]], *,
               dry_run: bool) -> None:
    """Mark the jobs pending (and set their shard and artefacts aside unless `dry_run`); a job that is running
    right now is left alone with a warning."""
    for stage, reasons in redo.items():
        for job_id, reason in reasons.items():
            if not dry_run:
                try:
                    supersede(paths, stage, job_id, reason)
                except JobBusy as exc:
                    log.warning("not redone: %s", exc)
                    continue
            st[stage].done.discard(job_id)
            st[stage].pending.add(job_id)
            st[stage].redo[job_id] = reason


def supersede(paths: RunPaths, stage: str, job_id: str, reason: str) -> None:
    """Move the job's shard and artefact folder to superseded/<stage>/, under the job's lock."""
    with locked(paths.lock(stage, job_id), what=f"{stage} job {job_id}"):
        for src in (paths.shard(stage, job_id), paths.artefacts(stage, job_id)):
            if src.exists():
                set_aside(src, paths.superseded(stage), f"superseded: {reason}")


def todo_reasons(paths: RunPaths, todo: Iterable[PlannedJob], st: StageState,
                 previous: Mapping[str, PlannedJob]) -> dict[str, str]:
    """{job id: why it runs} for the jobs a submission runs (see the module doc)."""
    out = {}
    for e in todo:
        if e.id in st.redo:
            out[e.id] = st.redo[e.id]
        elif e.id in st.reasons:
            out[e.id] = f"corrupt: {st.reasons[e.id]}"
        elif e.id in st.failed:
            why = error_reason(paths, e.id)
            out[e.id] = f"{'corrupt' if why.startswith(CORRUPT) else 'failed'}: {why}"
        else:
            out[e.id] = _new_or_changed(e, previous)
    return out


def _new_or_changed(entry: PlannedJob, previous: Mapping[str, PlannedJob]) -> str:
    old = previous.get(match_key(entry))
    if old is None or old.id == entry.id:
        return "new"
    grown = grown_reason(old, entry)
    if grown is not None:
        return grown
    changes = spec_changes(old.spec_dict(), entry.spec_dict())
    shown = ", ".join(changes[:MAX_CHANGES]) + (f" and {len(changes) - MAX_CHANGES} more" if len(changes) >
                                                  MAX_CHANGES else "")
    return f"parameters changed: {shown or 'spec'}"


def match_key(entry: PlannedJob) -> str:
    """What makes two plans' jobs 'the same job': its label with every attack parameter shown (a transfer job's
    without the attacks it replays: the same source and target models)."""
    from .labels import job_label

    label = job_label(entry, frozenset({"*"}))
    return label.rsplit(" [", 1)[0] if entry.stage == "transfer" else label


def transfer_base(entry: PlannedJob) -> str:
    """A transfer job without its attack list, but with its source model: what 'the same transfer job' means."""
    spec = dict(entry.spec_dict())
    attacks = spec.pop("attacks", None) or [{}]
    spec["source"] = attacks[0].get("target")
    return json.dumps(spec, sort_keys=True)


def attack_keys(entry: PlannedJob) -> set[str]:
    """The attack jobs a transfer job replays, as canonical JSON."""
    return {json.dumps(a, sort_keys=True) for a in entry.spec_dict().get("attacks") or []}


def grown_reason(old: PlannedJob, new: PlannedJob) -> str | None:
    """Why a transfer job re-runs when its source model gained attacks (runner.extend); None when `new` is not
    `old` with more attacks."""
    if old.stage != "transfer" or new.stage != "transfer" or transfer_base(old) != transfer_base(new):
        return None
    before = attack_keys(old)
    if not before <= attack_keys(new):
        return None
    attacks = new.spec_dict().get("attacks") or []
    gained = [a for a in attacks if json.dumps(a, sort_keys=True) not in before]
    return (f"attack set grown (+{len(gained)}: {attacks_text(gained, attacks)}; a transfer job replays every "
            f"attack of its source model)")


def attacks_text(attacks: list[dict[str, Any]], every: list[dict[str, Any]]) -> str:
    """`fgsm eps=1.0, ...`: the parameters that differ from ART's defaults or are swept among `every`."""
    from .labels import params_text

    values: dict[str, set[str]] = {}
    for a in every:
        for k, v in (a.get("params") or {}).items():
            values.setdefault(f"{a.get('attack')}.{k}", set()).add(repr(v))
    swept = frozenset(k for k, v in values.items() if len(v) > 1)
    text = [f"{a.get('attack', '?')} {params_text(a, swept)}" for a in attacks[:MAX_CHANGES]]
    return ", ".join(text) + (f" and {len(attacks) - MAX_CHANGES} more" if len(attacks) > MAX_CHANGES else "")


def previous_plan(paths: RunPaths, new_ids: Mapping[str, Iterable[str]]) -> dict[str, dict[str, PlannedJob]]:
    """{stage: {match key: job}} of the run folder's current plan when it differs from `new_ids`, else {}."""
    from .runfolder import grid_hash, read_marker

    marker = read_marker(paths)
    if marker is None or marker["grid_hash"] == grid_hash({s: list(ids) for s, ids in new_ids.items()}):
        return {}
    return {stage: {match_key(e): e for e in read_stage(paths, stage)} for stage in STAGES}


def spec_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`key.path old -> new` for every leaf that differs between two spec dicts."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k} {a.get(k, '(none)')} -> {b.get(k, '(none)')}" for k in sorted(a.keys() | b.keys())
            if a.get(k) != b.get(k)]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(d, list) and d and all(isinstance(x, Mapping) for x in d):
        out = {}
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): d}
