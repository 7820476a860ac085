"""The run's job timeline: one bar per finished job (start to end), by stage, in one lane per concurrent job of
each host, from the traces the worker writes into every shard (runner.trace). Shards from before the trace have
none; when no job has one the figure is skipped and the report says why.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..paths import STAGES  # noqa: E402
from ..trace import TRACE_COLUMNS  # noqa: E402
from .media import Media, save_figure  # noqa: E402
from .rundata import RunData  # noqa: E402

MAX_HEIGHT_IN = 12.0


def job_traces(data: RunData) -> tuple[pd.DataFrame, int]:
    """(one row per traced job: stage, job_id, host, start/end seconds from the run's first start, trace
    columns; the number of finished jobs without a trace)."""
    frames, untraced = [], 0
    for stage, res in data.stages.items():
        names = res.table.column_names
        if "job_id" not in names:
            continue
        if "started_at" not in names or "wall_s" not in names:
            untraced += len(set(res.table.column("job_id").to_pylist()))
            continue
        cols = ["job_id", "host", *[c for c in TRACE_COLUMNS if c in names]]
        df = res.table.select([c for c in cols if c in names]).to_pandas().drop_duplicates("job_id")
        missing = df.started_at.isna() | df.wall_s.isna()
        untraced += int(missing.sum())
        frames.append(df[~missing].assign(stage=stage))
    if not frames or not sum(len(f) for f in frames):
        return pd.DataFrame(columns=["stage", "job_id", "host", "start_s", "end_s", *TRACE_COLUMNS]), untraced
    df = pd.concat(frames, ignore_index=True)
    start = pd.to_datetime(df.started_at, utc=True, format="ISO8601")
    df["start_s"] = (start - start.min()).dt.total_seconds()
    df["end_s"] = df.start_s + df.wall_s.astype(float)
    df["host"] = df.get("host", pd.Series("?", index=df.index)).fillna("?").astype(str)
    return df.sort_values(["start_s", "stage"], kind="stable").reset_index(drop=True), untraced


def lanes(df: pd.DataFrame) -> pd.Series:
    """Per job, its lane within its host: the lowest lane free at its start (jobs sorted by start)."""
    out: dict[object, int] = {}
    for _, grp in df.groupby("host", sort=True):
        ends: list[float] = []
        for i, start, end in zip(grp.index, grp.start_s, grp.end_s, strict=True):
            free = next((k for k, e in enumerate(ends) if e <= start), None)
            if free is None:
                free = len(ends)
                ends.append(0.0)
            ends[free] = float(end)
            out[i] = free
    return pd.Series([out[i] for i in df.index], index=df.index, dtype=int)


def timeline(data: RunData, folder: Path) -> tuple[Media | None, list[str]]:
    """(the figure, or None; lines for the report: per stage wall times and peak memory, or why no figure)."""
    df, untraced = job_traces(data)
    if df.empty:
        why = (f"No job timeline: none of the {untraced} finished job(s) recorded a trace (shards written before "
               "the worker recorded started_at, wall_s and peak memory, or made without the worker).")
        return None, [why if untraced else "No job timeline: no job has finished."]
    lines = [_stage_line(stage, df[df.stage == stage]) for stage in STAGES if (df.stage == stage).any()]
    if untraced:
        lines.append(f"{untraced} finished job(s) recorded no trace (older shards) and are not drawn.")
    return _figure(df, folder), lines


def _stage_line(stage: str, grp: pd.DataFrame) -> str:
    wall = grp.wall_s.astype(float)
    text = f"{stage}: {len(grp)} job(s), wall time median {wall.median():.1f} s, max {wall.max():.1f} s"
    if "peak_rss_mb" in grp and grp.peak_rss_mb.notna().any():
        scopes = sorted(set(grp.get("peak_rss_scope", pd.Series(dtype=str)).dropna()))
        text += f", peak memory max {grp.peak_rss_mb.max():.0f} MiB ({'/'.join(scopes) or '?'} peak)"
    return text


def _figure(df: pd.DataFrame, folder: Path) -> Media:
    df = df.assign(lane=lanes(df))
    hosts = sorted(df.host.unique())
    rows = {(h, k): n for n, (h, k) in enumerate((h, k) for h in hosts for k in range(int(df[df.host == h].lane.max())
                                                                                   + 1))}
    hours = df.end_s.max() > 3 * 3600
    scale, unit = (3600.0, "h") if hours else (60.0, "min")
    fig, ax = plt.subplots(figsize=(7.5, min(MAX_HEIGHT_IN, 1.4 + 0.22 * len(rows))))
    order = [s for s in STAGES if s in set(df.stage)]
    for i, stage in enumerate(order):
        grp = df[df.stage == stage]
        y = [rows[(h, k)] for h, k in zip(grp.host, grp.lane, strict=True)]
        ax.barh(y, grp.wall_s / scale, left=grp.start_s / scale, height=0.8, color=f"C{i}", label=stage)
    ticks = [rows[(h, 0)] for h in hosts]
    ax.set_yticks(ticks, [f"{h}" for h in hosts])
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} since the first job started")
    ax.set_title(f"{len(df)} jobs on {len(hosts)} host(s): one bar per job, one lane per concurrent job")
    for h in hosts[1:]:  # a line between hosts
        ax.axhline(rows[(h, 0)] - 0.5, color="0.6", lw=0.6)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="stage", title_fontsize=8)
    path = save_figure(fig, folder / "timeline.png")
    span = df.end_s.max() / scale
    return Media(path, f"Job timeline: each bar is one job from its start to its end (wall time), coloured by "
                       f"stage, in lanes per host; {len(df)} jobs over {span:.1f} {unit}.", "figure")
