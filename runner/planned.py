"""The one planned-job type, from grid expansion to reduction.

Expansion builds `PlannedJob`s from spec models; `runner.plan` writes them as RUN/plan/<stage>.jsonl lines
(`{"id", "stage", "upstream", "upstream_stage", "spec"}`, `id` first) and reads them back as the same type; the
worker, dispatch, status and the reducer all consume it. A job read from a plan keeps its spec as the JSON dict
until something asks for `spec`: `status` over 10,000 jobs needs only their ids, so it never validates a spec,
while the worker and the reducer get the model `sercore.specs.job_from_dict` rebuilds (the worker's own spec
classes, so no spec default is restated in runner).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from sercore.errors import DataError
from sercore.specs import AttackJob, FeaturesJob, Spec, TrainJob, TransferJob, TuneJob, job_from_dict
from sercore.strict import key_path, problem_message

AnyJob = FeaturesJob | TrainJob | TuneJob | AttackJob | TransferJob  # what job_from_dict returns


class PlannedJob:
    """One planned job: its spec and the job whose shard it needs first (None when it needs none).

    `spec` is a spec model, or its JSON dict (a plan line) that is validated on first access. Equality and hash
    follow (id, stage, upstream, upstream_stage): the id is the hash of the spec's canonical JSON.
    """

    __slots__ = ("stage", "upstream", "upstream_stage", "id", "_spec", "_raw")

    stage: str
    upstream: str | None
    upstream_stage: str | None
    id: str
    _spec: AnyJob | None
    _raw: dict[str, Any] | None

    def __init__(self, stage: str, spec: AnyJob | dict[str, Any], upstream: str | None = None,
                 upstream_stage: str | None = None, id: str = "") -> None:  # noqa: A002 (the plan's key)
        setattr_ = object.__setattr__
        setattr_(self, "stage", stage)
        setattr_(self, "upstream", upstream)
        setattr_(self, "upstream_stage", upstream_stage)
        setattr_(self, "_spec", spec if isinstance(spec, Spec) else None)
        setattr_(self, "_raw", None if isinstance(spec, Spec) else dict(spec))
        # Hashing the canonical JSON is the costly part of a big grid: do it once, and not at all when given.
        setattr_(self, "id", id or self.spec.job_id)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PlannedJob is immutable (tried to set {name!r})")

    @property
    def spec(self) -> AnyJob:
        """The spec model (rebuilt from the plan line's dict on first access, then kept)."""
        if self._spec is None:
            try:
                object.__setattr__(self, "_spec", job_from_dict(self._raw or {}))
            except ValidationError as exc:  # a plan from another version of the specs, or a hand-edited line
                first = exc.errors()[0]
                raise DataError(f"{self.stage} job {self.id}: plan spec does not validate: "
                                f"{key_path(first['loc']) or 'spec'}: {problem_message(first)} "
                                f"({exc.error_count()} error(s))") from exc
        assert self._spec is not None
        return self._spec

    def spec_dict(self) -> dict[str, Any]:
        """The spec's JSON form, as the plan stores it (no validation when read from a plan)."""
        return self._raw if self._raw is not None else self.spec.model_dump(mode="json")

    def to_json(self) -> str:
        """The plan line; `id` first so a worker finds its line by prefix without parsing the others."""
        return json.dumps({"id": self.id, "stage": self.stage, "upstream": self.upstream,
                           "upstream_stage": self.upstream_stage, "spec": self.spec_dict()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str, where: str = "plan", stage: str = "") -> PlannedJob:
        """A plan line back as a job; `where` (file:line) names the line in errors, `stage` (the plan file's)
        stands in for a line without one."""
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not a JSON line ({exc.msg})") from exc
        if not isinstance(d, dict) or "id" not in d:
            keys = ", ".join(sorted(d)) if isinstance(d, dict) else type(d).__name__
            raise DataError(f"{where}: plan line has no 'id' key (keys: {keys})")
        return cls(d.get("stage") or stage, d.get("spec") or {}, d.get("upstream"), d.get("upstream_stage"), d["id"])

    def _key(self) -> tuple[str, str, str | None, str | None]:
        return (self.id, self.stage, self.upstream, self.upstream_stage)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlannedJob) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"PlannedJob({self.stage!r}, id={self.id!r}, upstream={self.upstream!r})"
