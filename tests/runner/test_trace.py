"""A job's trace: the peak memory is the job's own where Linux lets the peak be reset, and says which."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from runner.trace import TRACE_COLUMNS, JobClock


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak reset needs Linux /proc")
def test_peak_memory_is_the_jobs_own() -> None:
    big = np.ones(10 * 2**20)  # 80 MiB touched by an earlier "job" in this process
    before = JobClock().columns()["peak_rss_mb"]
    del big
    clock = JobClock()
    small = np.ones(2**20)  # 8 MiB in this job
    cols = clock.columns()
    assert list(cols) == list(TRACE_COLUMNS)
    assert cols["peak_rss_scope"] == "job"
    assert before >= 80 and cols["peak_rss_mb"] < before - 50 and cols["peak_rss_mb"] >= small.nbytes / 2**20
    assert cols["wall_s"] >= 0 and cols["started_at"].endswith("+00:00")


def test_without_a_reset_the_scope_says_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runner.trace.CLEAR_REFS", "/nonexistent/clear_refs")
    assert JobClock().columns()["peak_rss_scope"] == "process"
