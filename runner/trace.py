"""A job's trace: when it started, how long it ran and how much memory it took, as shard columns.

    started_at      UTC ISO time the worker began the job (after its lock), beside the existing `finished_at`
    wall_s          seconds from start to the shard being assembled (monotonic clock)
    peak_rss_mb     peak resident memory in MiB: resource.getrusage(RUSAGE_SELF).ru_maxrss of the process that ran
                    the job (KiB on Linux), after resetting the peak at the job's start (/proc/self/clear_refs "5",
                    Linux >= 4.0), so a local run's later jobs do not inherit an earlier job's peak
    peak_rss_scope  `job` when that reset worked; `process` when it did not (not Linux, or /proc read-only): then
                    the value is the process's peak so far, which for local runs includes the jobs before it
    peak_rss_children_mb  ru_maxrss of the largest child process waited for so far (feature extraction's
                    pool; 0 when none), never reset

`host` is already a shard column. The report's timeline (runner.reduce.timeline) reads them from every shard,
`status` from each stage's latest RECENT shards (`recent_lines`).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .paths import RunPaths
from .shards import list_shards

TRACE_COLUMNS = ("started_at", "wall_s", "peak_rss_mb", "peak_rss_scope", "peak_rss_children_mb")
CLEAR_REFS = "/proc/self/clear_refs"
RECENT = 20  # shards per stage `status` reads traces from


def _rss_mb(who: int) -> float:
    """ru_maxrss in MiB (Linux reports KiB, macOS bytes)."""
    value = float(resource.getrusage(who).ru_maxrss)
    return value / 2**20 if sys.platform == "darwin" else value / 1024


def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS; False where the kernel offers no way to."""
    try:
        with open(CLEAR_REFS, "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@dataclass
class JobClock:
    """Started when the job starts; `columns()` when its shard is assembled."""

    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    start: float = field(default_factory=time.monotonic)
    scope: str = field(default_factory=lambda: "job" if reset_peak() else "process")

    def columns(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "wall_s": round(time.monotonic() - self.start, 3),
                "peak_rss_mb": round(_rss_mb(resource.RUSAGE_SELF), 1), "peak_rss_scope": self.scope,
                "peak_rss_children_mb": round(_rss_mb(resource.RUSAGE_CHILDREN), 1)}


def recent_lines(paths: RunPaths, stages: list[str], n: int = RECENT) -> list[str]:
    """`status`'s view of the traces: per stage, over its `n` latest finished shards (read by column, so a run of
    10,000 shards costs n small reads per stage), median and max wall time, peak memory and hosts."""
    import pyarrow.parquet as pq

    lines = []
    for stage in stages:
        entries = sorted(list_shards(paths, stage).values(), key=lambda e: e.stat().st_mtime)[-n:]
        walls, peaks, hosts = [], [], set()
        for e in entries:
            try:
                t = pq.read_table(e.path, columns=["host", "wall_s", "peak_rss_mb"]).slice(0, 1).to_pylist()
            except Exception:  # a shard from before the trace (no such columns) or unreadable: not counted
                continue
            if t:
                walls.append(float(t[0]["wall_s"]))
                peaks.append(float(t[0]["peak_rss_mb"]))
                hosts.add(str(t[0]["host"]))
        if walls:
            walls.sort()
            lines.append(f"  {stage}: latest {len(walls)} job(s): wall time median {walls[len(walls) // 2]:.1f} s, "
                         f"max {walls[-1]:.1f} s; peak memory max {max(peaks):.0f} MiB; on {', '.join(sorted(hosts))}")
    return ["job traces (runner.trace):", *lines] if lines else []
