"""runner.status: the run's pace (elapsed, rate over the latest sitting, time left) and the report's freshness."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest

from runner.paths import RunPaths
from runner.status import SESSION_GAP_S, finish_rate, run_progress


def test_finish_rate_uses_the_latest_sitting() -> None:
    assert finish_rate([]) is None and finish_rate([5.0]) is None
    assert finish_rate([0.0, 600.0, 1200.0]) == pytest.approx(6.0)  # 2 jobs in 20 min
    week_ago = [0.0, 60.0]
    today = [t + 7 * 86400 for t in (0.0, 360.0, 720.0, 1080.0)]  # 3 jobs in 18 min after a week's pause
    assert finish_rate(week_ago + today) == pytest.approx(10.0)
    assert finish_rate([0.0, SESSION_GAP_S]) == pytest.approx(3600 / SESSION_GAP_S), "a gap of exactly the limit"


def _run(tmp_path, created: datetime, finishes: list[float]) -> RunPaths:
    paths = RunPaths(tmp_path / "run")
    paths.root.mkdir()
    paths.run_meta.write_text(json.dumps({"created": created.isoformat(timespec="seconds")}))
    for i, t in enumerate(finishes):
        shard = paths.shard("attack", f"{i:016x}")
        shard.parent.mkdir(parents=True, exist_ok=True)
        shard.write_bytes(b"")
        os.utime(shard, (t, t))
    return paths


def test_run_progress_elapsed_eta_and_report(tmp_path) -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()
    paths = _run(tmp_path, datetime.fromtimestamp(start, UTC), [start + 600, start + 1200, start + 1800])
    report = {"attack": {"pending": 3, "running": 1}}
    p = run_progress(paths, report, now=start + 3600)
    assert p.elapsed_s == 3600 and p.jobs_per_hour == pytest.approx(6.0)  # 2 finishes in the 20 min after the 1st
    assert p.eta_s == pytest.approx(4 / 6 * 3600) and p.report is None
    index = paths.report_dir / "index.html"
    index.parent.mkdir()
    index.write_text("x")
    os.utime(index, (start + 1500, start + 1500))
    p = run_progress(paths, report, now=start + 3600)
    assert p.report == str(index) and p.stale_report == 1
    done = run_progress(paths, {"attack": {"pending": 0, "running": 0}}, now=start + 9999)
    assert done.elapsed_s == 1800 and done.eta_s == 0, "a finished run's clock stops at its last shard"
