"""The one planned-job type: plan-line round trip, lazy spec, identity; the one error-reason reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.paths import RunPaths
from runner.planned import PlannedJob
from runner.shards import error_reason, job_files
from sercore.errors import DataError
from sercore.io import write_text
from sercore.specs import CorpusSpec, FeaturesJob


def test_round_trip_keeps_id_first_and_the_spec() -> None:
    job = PlannedJob("features", FeaturesJob(corpus=CorpusSpec(name="synthetic")))
    assert job.id == job.spec.job_id
    line = job.to_json()
    assert line.startswith(f'{{"id":"{job.id}"')
    back = PlannedJob.from_json(line)
    assert back == job and hash(back) == hash(job) and back.spec == job.spec
    assert json.loads(line)["spec"] == back.spec_dict()


def test_spec_is_validated_only_when_asked() -> None:
    job = PlannedJob.from_json('{"id": "a", "spec": {"kind": "features"}}', stage="features")
    assert job.stage == "features" and job.id == "a" and job.spec_dict() == {"kind": "features"}
    with pytest.raises(DataError, match="features job a: plan spec does not validate: features.corpus"):
        _ = job.spec
    with pytest.raises(AttributeError):
        job.id = "b"  # type: ignore[misc]


def test_bad_plan_lines_name_the_line() -> None:
    with pytest.raises(DataError, match="p.jsonl:3: not a JSON line"):
        PlannedJob.from_json("nope", "p.jsonl:3")
    with pytest.raises(DataError, match="no 'id' key"):
        PlannedJob.from_json('{"stage": "train"}')


def test_error_reason_reads_the_worker_line_or_a_bare_traceback(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    write_text(paths.error("w"), "ValueError: boom\n\nTraceback (most recent call last):\n  ...\nOther: later\n")
    write_text(paths.error("t"), "Traceback (most recent call last):\n  ...\nJobError: upstream has no shard\n")
    write_text(paths.error("e"), "\n")
    write_text(paths.error("_x"), "not a job")
    assert error_reason(paths, "w") == "ValueError: boom"
    assert error_reason(paths, "t") == "JobError: upstream has no shard"
    assert error_reason(paths, "e") == "(empty error file)"
    assert error_reason(paths, "gone") == "(no error file)"
    assert set(job_files(paths.error_dir, ".txt")) == {"w", "t", "e"}
