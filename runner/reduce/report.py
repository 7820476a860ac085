"""The run's report: report/tables/*, figures/*.png, audio/*.wav, provenance.json, README.md and one
self-contained index.html (images and, up to a size cap, audio embedded as base64) that can be mailed around.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.metadata as md
import json
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sercore.errors import DataError
from sercore.io import write_json, write_text

from ..paths import RunPaths
from ..provenance import CODE_COLUMNS, code_labels
from . import paper_tables as pt
from .beyond import beyond_tables
from .compare import protocol_tables
from .figures import Media, beyond_figures, build_figures
from .folds import epoch_caps, table_pooled, table_training
from .merge import load_run
from .paper_compare import paper_results
from .paper_report import comparison_tables
from .publish import publishing
from .render import Table, to_markdown, write_table
from .robustness import label_paper_metric
from .rundata import RunData
from .tables import (
    Summary,
    summarize,
    table_best,
    table_best_time,
    table_clean,
    table_composition,
    table_lstm_units,
    table_study,
    table_tuned,
    tables_sweep,
)

PACKAGES = ("sertack", "tensorflow", "keras", "adversarial-robustness-toolbox", "keras-tuner", "librosa", "numpy",
            "pandas", "pyarrow", "scikit-learn", "submitit", "matplotlib")
AUDIO_FILE_CAP = 2 * 2**20  # bytes per embedded WAV
AUDIO_TOTAL_CAP = 12 * 2**20  # bytes of embedded audio in index.html
BEYOND_INTRO = ("What the paper's single numbers cannot say, from the same run: worst-case robustness, tests of the "
                "paper's comparisons, per-speaker accuracy, the leak measured with two leak-free protocols and "
                "transfer between models (docs/report.md).")


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(data: RunData) -> dict[str, Any]:
    """Where the numbers come from: grid hash, code commit, package versions, hosts, GPUs, dates, counts."""
    paths = data.paths
    grid_hash = hashlib.sha256(paths.grid.read_bytes()).hexdigest() if paths.grid.is_file() else None
    versions: dict[str, str | None] = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    hosts: dict[str, int] = {}
    devices: dict[str, int] = {}
    images: dict[str, int] = {}
    codes: dict[str, int] = {}  # jobs per code version that made their shards (runner.provenance)
    stamps: list[str] = []
    for res in data.stages.values():
        cols = ("job_id", "host", "device", "container", "image_hash", "finished_at", *CODE_COLUMNS)
        df = res.table.select([c for c in cols if c in res.table.column_names])
        frame = df.to_pandas().drop_duplicates("job_id") if "job_id" in df.column_names else df.to_pandas()
        for col, acc in (("host", hosts), ("device", devices)):
            if col in frame:
                for k, v in frame[col].fillna("?").value_counts().items():
                    acc[str(k)] = acc.get(str(k), 0) + int(v)
        for k, v in _image_labels(frame).value_counts().items():
            images[str(k)] = images.get(str(k), 0) + int(v)
        for k, v in code_labels(frame).value_counts().items():
            codes[str(k)] = codes.get(str(k), 0) + int(v)
        if "finished_at" in frame:
            stamps += [str(x) for x in frame.finished_at.dropna()]
    status = data.status
    return {
        "run": str(paths.root), "run_name": _run_name(paths.run_meta), "grid_sha256": grid_hash,
        "git_commit": _git_commit(), "python": platform.python_version(), "packages": versions,
        "hosts": dict(sorted(hosts.items())), "devices": dict(sorted(devices.items())),
        "images": dict(sorted(images.items())), "code_versions": dict(sorted(codes.items())),
        "first_finished": min(stamps) if stamps else None, "last_finished": max(stamps) if stamps else None,
        "reduced_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": {st: {k: int(v) for k, v in grp.status.value_counts().items()}
                 for st, grp in status.groupby("stage", sort=False)} if not status.empty else {},
    }


def _image_labels(frame: pd.DataFrame) -> pd.Series:
    """`sertack-<hash>.sif (hash <hash>)` per job that ran in an Apptainer image, `bare` otherwise."""
    if "container" not in frame:
        return pd.Series(["bare"] * len(frame), dtype=object)
    name = frame.container.fillna("").map(lambda p: Path(p).name if p else "")
    digest = frame.get("image_hash", pd.Series([""] * len(frame), index=frame.index)).fillna("")
    return pd.Series([f"{n} (hash {h or '?'})" if n else "bare" for n, h in zip(name, digest, strict=False)],
                     dtype=object)


def _run_name(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None


def completeness_table(data: RunData) -> Table:
    """Every job that is not ok, with its reason (empty table when the run is complete)."""
    problems = data.status[data.status.status != "ok"].reset_index(drop=True)
    display = problems.rename(columns={"job_id": "job"}).copy()
    display.attrs["labels"] = 4
    counts = data.status.groupby(["stage", "status"]).size()
    notes = [", ".join(f"{r.stage} {r.status}: {r.n}" for r in counts.reset_index(name="n").itertuples())]
    return Table("completeness", "Jobs that are missing, failed, unreadable or unplanned", display, problems, notes)


def _md_provenance(p: dict[str, Any]) -> str:
    lines = ["| item | value |", "| :--- | :--- |"]
    for key in ("run", "run_name", "grid_sha256", "git_commit", "python", "first_finished", "last_finished",
                "reduced_at"):
        lines.append(f"| {key} | {p.get(key) if p.get(key) is not None else '–'} |")
    for key in ("hosts", "devices", "images", "code_versions", "packages", "jobs"):
        val = p.get(key) or {}
        text = "; ".join(f"{k}: {v}" for k, v in val.items()) if val else "–"
        lines.append(f"| {key} | {text} |")
    return "\n".join(lines) + "\n"


def _sections(data: RunData, audio_limit: int) -> tuple[list[Table], list[Table], list[Table], list[Media], Table,
                                                        dict[str, Any], list[Table]]:
    s = summarize(data)
    tables = build_tables(data, s)
    compare = label_paper_metric(comparison_tables(data, s))
    protocol = label_paper_metric(protocol_tables(s))
    media = build_figures(data, s, data.paths.report_dir, audio_limit=audio_limit)
    beyond = beyond_tables(data, s)
    media += beyond_figures(data, s, beyond, data.paths.report_dir / "figures")
    prov = provenance(data)
    if data.notes:  # media the report left out (a corrupt examples.npz): said in the report, never a crash
        prov["skipped"] = list(data.notes)
    return tables, compare, protocol, media, completeness_table(data), prov, beyond


def build_tables(data: RunData, s: Summary | None = None) -> list[Table]:
    """Every table the run's stages support, in paper order."""
    s = s or summarize(data)
    out: list[Table | None] = [table_study(data, s, "norm_study"), table_study(data, s, "arch_study"),
                               table_clean(s)]
    if not s.best.empty:
        out += [table_best(s), *pt.tables_by_gender(s), pt.table_distance(s, paper_results()["table_7"])]
    out += [*pt.tables_corpus(data.frame("features")), table_lstm_units(data)]
    t19, t21 = pt.tables_models(s.train, data.frame("arch_study"))
    out += [t19, table_tuned(data), t21, table_composition(s)]
    if not s.best.empty:
        out += [*tables_sweep(s), table_best_time(s), *pt.tables_rank(s), *pt.tables_gender_columns(s)]
    out += [table_pooled(s.train), table_training(s.train_runs, epoch_caps(data.plan("train")))]
    return label_paper_metric([t for t in out if t is not None])


def write_report(data: RunData, *, progress: bool = True, audio_limit: int = 4) -> Path:
    """Write every table, figure, sound, provenance.json, README.md and index.html; returns report/.
    `audio_limit`: attacks that get clean/adversarial WAVs (Griffin-Lim costs about a second per file)."""
    out = data.paths.report_dir
    for sub in ("tables", "figures", "audio"):  # a rerun must not leave a previous reduce's files behind
        shutil.rmtree(out / sub, ignore_errors=True)
    tables, compare, protocol, media, complete, prov, beyond = _sections(data, audio_limit)
    for t in [*tables, *compare, *protocol, *beyond, complete]:
        write_table(t, out / "tables")
    write_json(out / "provenance.json", prov)
    write_text(out / "README.md", render_markdown(tables, compare, protocol, media, complete, prov, out, beyond))
    write_text(out / "index.html", render_html(tables, compare, protocol, media, complete, prov, beyond))
    return out


def render_markdown(tables: list[Table], compare: list[Table], protocol: list[Table], media: list[Media],
                    complete: Table, prov: dict[str, Any], root: Path, beyond: list[Table] | None = None) -> str:
    parts = [f"# sertack report: {prov.get('run_name') or Path(prov['run']).name}", "",
             "Reproduction of *A systematic evaluation of adversarial attacks against speech emotion recognition "
             "models*. Tables are also in `tables/` as CSV (numbers) and LaTeX.", "", "## Provenance", "",
             _md_provenance(prov), "## Completeness", ""]
    parts.append(to_markdown(complete) if not complete.display.empty else "Every planned job finished.\n")
    if prov.get("skipped"):
        parts += ["Skipped while reducing:", "", *[f"- {n}" for n in prov["skipped"]], ""]
    parts += ["## Tables", ""] + [to_markdown(t) for t in tables]
    if compare:
        parts += ["## Paper vs reproduced", ""] + [to_markdown(t) for t in compare]
    if protocol:
        parts += ["## Paper protocol vs leak-free protocol", ""] + [to_markdown(t) for t in protocol]
    if beyond:
        parts += ["## Beyond the paper", "", BEYOND_INTRO, ""] + [to_markdown(t) for t in beyond]
    figs = [m for m in media if m.kind == "figure"]
    sounds = [m for m in media if m.kind == "audio"]
    if figs:
        parts += ["## Figures", ""] + [f"![{m.caption}]({m.path.relative_to(root).as_posix()})\n\n{m.caption}\n"
                                       for m in figs]
    if sounds:
        parts += ["## Listen", ""] + [f"- [{m.caption}]({m.path.relative_to(root).as_posix()})" for m in sounds]
    return "\n".join(parts).rstrip() + "\n"


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.display.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in t.display.itertuples(index=False))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in t.notes)
    anchor = html.escape(t.name)
    return (f'<h3 id="{anchor}">{html.escape(t.number)}. {html.escape(t.title)}</h3>\n<table><thead><tr>{head}'
            f"</tr></thead><tbody>{body}</tbody></table>\n" + (f"<ul class=\"notes\">{notes}</ul>\n" if notes else ""))


def _toc(tables: list[Table]) -> str:
    links = "".join(f'<li><a href="#{html.escape(t.name)}">{html.escape(t.number)}. {html.escape(t.title)}</a></li>'
                    for t in tables)
    return f"<details><summary>Tables</summary><ul>{links}</ul></details>"


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_CSS = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0;font-size:.85em}th,td{border:1px solid #ccc;padding:2px 6px;"
        "text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}.notes{font-size:.8em;color:#555}figure{margin:1em 0}")


def render_html(tables: list[Table], compare: list[Table], protocol: list[Table], media: list[Media],
                complete: Table, prov: dict[str, Any], beyond: list[Table] | None = None) -> str:
    title = html.escape(f"sertack report: {prov.get('run_name') or Path(prov['run']).name}")
    prov_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(json.dumps(v) if isinstance(v, dict) else str(v))}</td></tr>"
        for k, v in prov.items())
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
             f"<style>{_CSS}</style></head><body>\n<h1>{title}</h1>",
             _toc([*tables, *compare, *protocol, *(beyond or [])]),
             "<h2>Provenance</h2>", f"<table><tbody>{prov_rows}</tbody></table>", "<h2>Completeness</h2>",
             _html_table(complete) if not complete.display.empty else "<p>Every planned job finished.</p>",
             *([f"<p>Skipped while reducing:</p><ul>{''.join(f'<li>{html.escape(n)}</li>' for n in skipped)}</ul>"]
               if (skipped := prov.get("skipped")) else []),
             "<h2>Tables</h2>", *[_html_table(t) for t in tables]]
    if compare:
        parts += ["<h2>Paper vs reproduced</h2>", *[_html_table(t) for t in compare]]
    if protocol:
        parts += ["<h2>Paper protocol vs leak-free protocol</h2>", *[_html_table(t) for t in protocol]]
    if beyond:
        parts += ["<h2>Beyond the paper</h2>", f"<p>{html.escape(BEYOND_INTRO)}</p>", *[_html_table(t) for t in beyond]]
    figs = [m for m in media if m.kind == "figure"]
    if figs:
        parts.append("<h2>Figures</h2>")
        parts += [f'<figure><img src="{_data_uri(m.path, "image/png")}" alt="{html.escape(m.caption)}">'
                  f"<figcaption>{html.escape(m.caption)}</figcaption></figure>" for m in figs]
    sounds = [m for m in media if m.kind == "audio"]
    if sounds:
        parts.append("<h2>Listen</h2><ul>")
        budget = AUDIO_TOTAL_CAP
        for m in sounds:
            size = m.path.stat().st_size
            if size <= AUDIO_FILE_CAP and size <= budget:
                budget -= size
                src = _data_uri(m.path, "audio/wav")
            else:
                src = html.escape(f"audio/{m.path.name}")  # beyond the cap: link the file beside index.html
            parts.append(f'<li>{html.escape(m.caption)}<br><audio controls src="{src}"></audio></li>')
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def report_frame(report_dir: Path, name: str) -> pd.DataFrame:
    """Read back one table's numbers (CSV) from a written report."""
    return pd.read_csv(report_dir / "tables" / f"{name}.csv")


def reduce_run(run_dir: Path, *, progress: bool = True, audio_limit: int = 4, out: Path | None = None,
               wait: bool = True, timeout: float = 3600.0) -> Path:
    """Merge, check and compact the run's shards, then write tables, figures and the report; returns report/.

    Everything is written to a staging folder and swapped in under a lock (runner.reduce.publish), into the
    run folder or into `out`; `wait`/`timeout`: how long to wait for another reduce of the same folder."""
    run = RunPaths(Path(run_dir))
    if not run.root.is_dir():
        raise DataError(f"{run.root}: run folder not found")
    if not (run.root / "plan").is_dir() and not (run.root / "shards").is_dir():  # write no lock into a stranger
        raise DataError(f"{run.root}: not a run folder (no plan/ or shards/)")
    with publishing(run, out, wait=wait, timeout=timeout) as paths:
        write_report(load_run(paths, progress=progress), progress=progress, audio_limit=audio_limit)
    return (Path(out).resolve() if out is not None else run.root) / "report"
