"""The report's job timeline from the shards' traces: lanes per host, per-stage lines, untraced jobs counted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa

from runner.reduce.timeline import job_traces, lanes, timeline


def _stage(rows: list[tuple[str, str, str, float, float]]) -> SimpleNamespace:
    df = pd.DataFrame(rows, columns=["job_id", "host", "started_at", "wall_s", "peak_rss_mb"])
    df = pd.concat([df, df.iloc[:1]], ignore_index=True)  # several rows per job (an attack's samples)
    return SimpleNamespace(table=pa.Table.from_pandas(df.assign(peak_rss_scope="job", value=1.0)))


def test_timeline_lanes_and_lines(tmp_path: Path) -> None:
    data = SimpleNamespace(stages={
        "train": _stage([("t1", "a", "2026-12-03T10:00:00+00:00", 60.0, 900.0),
                         ("t2", "a", "2026-12-03T10:00:30+00:00", 60.0, 1100.0)]),
        "attack": _stage([("a1", "b", "2026-12-03T10:02:00+00:00", 30.0, 500.0),
                          ("a2", "a", "2026-12-03T10:01:30+00:00", 10.0, 400.0)]),
        "features": SimpleNamespace(table=pa.Table.from_pandas(pd.DataFrame({"job_id": ["f1"], "host": ["a"]}))),
    })
    df, untraced = job_traces(data)
    assert untraced == 1 and list(df.job_id) == ["t1", "t2", "a2", "a1"]
    assert list(df.start_s) == [0.0, 30.0, 90.0, 120.0] and list(df.end_s) == [60.0, 90.0, 100.0, 150.0]
    assert list(lanes(df)) == [0, 1, 0, 0]  # t2 overlaps t1 on host a; a2 starts after t1 ended
    media, lines = timeline(data, tmp_path)
    assert media is not None and media.path.read_bytes()[:4] == b"\x89PNG" and "4 jobs over 2.5 min" in media.caption
    assert lines[0] == "train: 2 job(s), wall time median 60.0 s, max 60.0 s, peak memory max 1100 MiB (job peak)"
    assert lines[-1].startswith("1 finished job(s) recorded no trace")


def test_no_trace_no_figure(tmp_path: Path) -> None:
    data = SimpleNamespace(stages={"features": SimpleNamespace(
        table=pa.Table.from_pandas(pd.DataFrame({"job_id": ["f1", "f2"], "host": ["a", "a"]})))})
    media, lines = timeline(data, tmp_path)
    assert media is None and lines == ["No job timeline: none of the 2 finished job(s) recorded a trace (shards "
                                       "written before the worker recorded started_at, wall_s and peak memory, or "
                                       "made without the worker)."]
