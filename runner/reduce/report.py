"""The run's report: report/tables/*, figures/*.png, audio/*.wav, provenance.json, README.md and one
self-contained index.html (images and, up to a size cap, audio embedded as base64) that can be mailed around.

`_sections` builds one `Report` (runner.reduce.htmlpage) that both renderers read: `render_markdown` (README.md)
and `render_html` (Jinja2 templates in runner/reduce/templates).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sercore.errors import DataError
from sercore.io import atomic_path, write_json, write_text

from ..paths import RunPaths
from ..provenance import CODE_COLUMNS, code_labels, installed_versions
from . import byo_notes, htmlpage, plots, tidy
from . import headline as hl
from . import paper_tables as pt
from .beyond import beyond_tables
from .compare import protocol_tables
from .figures import beyond_figures, build_figures
from .folds import epoch_caps, table_pooled, table_training
from .htmlpage import Report, headline_frame
from .listening import listening_panel
from .media import Listen
from .merge import load_run
from .paper_compare import paper_results
from .paper_report import comparison_tables
from .publish import publishing
from .render import INCOMPLETE_NOTE, Table, to_markdown, write_table
from .robustness import PAPER_METRIC_NOTE, label_paper_metric
from .rundata import RunData
from .summary import Summary, summarize
from .tables import (
    table_best,
    table_best_time,
    table_clean,
    table_composition,
    table_lstm_units,
    table_study,
    table_tuned,
    tables_sweep,
)
from .timeline import timeline
from .uncertainty import ci_note

PACKAGES = ("sertack", "tensorflow", "keras", "adversarial-robustness-toolbox", "keras-tuner", "librosa", "numpy",
            "pandas", "pyarrow", "scikit-learn", "submitit", "matplotlib")
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
    hosts, devices, images, codes, stamps = _job_counts(data)
    status = data.status
    return {
        "run": str(paths.root), "run_name": _run_name(paths.run_meta), "grid_sha256": grid_hash,
        "git_commit": _git_commit(), "python": platform.python_version(), "packages": installed_versions(PACKAGES),
        "hosts": dict(sorted(hosts.items())), "devices": dict(sorted(devices.items())),
        "images": dict(sorted(images.items())), "code_versions": dict(sorted(codes.items())),
        "first_finished": min(stamps) if stamps else None, "last_finished": max(stamps) if stamps else None,
        "reduced_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": {st: {k: int(v) for k, v in grp.status.value_counts().items()}
                 for st, grp in status.groupby("stage", sort=False)} if not status.empty else {},
    }


def _job_counts(data: RunData) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int], list[str]]:
    """Jobs per host, device, image and code version (runner.provenance), and every job's finish time."""
    hosts: dict[str, int] = {}
    devices: dict[str, int] = {}
    images: dict[str, int] = {}
    codes: dict[str, int] = {}
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
    return hosts, devices, images, codes, stamps


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


def _sections(data: RunData, audio_limit: int) -> Report:
    """Every table, figure and sound of the report (written under report/), gathered into one Report."""
    s = summarize(data)
    out = data.paths.report_dir
    tables = build_tables(data, s)
    compare = label_paper_metric(comparison_tables(data, s))
    protocol = label_paper_metric(protocol_tables(s))
    media = build_figures(data, s, out)
    beyond = beyond_tables(data, s)
    media += beyond_figures(beyond, out / "figures")
    prov = provenance(data)
    if data.notes:  # media the report left out (a corrupt examples.npz): said in the report, never a crash
        prov["skipped"] = list(data.notes)
    head = hl.build_headline(data, s)
    trace_figure, trace_lines = timeline(data, out / "figures")
    cells = hl.cells_with_ci(data, s)
    inside = hl.table_inside_ci(cells)
    compare = compare[:1] + ([inside] if inside is not None else []) + compare[1:]  # after P00's summary
    summary = next((t for t in compare if t.name == "P00_paper_summary"), None)
    compared = (int(summary.data.compared.sum()), int(summary.data.printed.sum())) if summary else (0, 0)
    firsts = [plots.dot_whisker(head.points, out / "figures", _n_text(s)) if head else None,
              plots.paper_scatter(cells, out / "figures")]
    return Report(
        title=f"Adversarial robustness of the SER model: run {prov.get('run_name') or Path(prov['run']).name}",
        paper=hl.PAPER_TITLE, prov=prov, meta=hl.meta_items(data, s, prov), banners=hl.banners(data, s, compared),
        headline=head, tables=tables, compare=compare, protocol=protocol, beyond=beyond,
        complete=completeness_table(data), media=media,
        listening=listening_panel(data, s, out / "audio", audio_limit=audio_limit),
        conventions=_conventions(s), headline_figures=[m for m in firsts if m is not None],
        paper_ci=f"{int(cells.inside.sum())} of {len(cells)} paper cells with an interval lie inside our 95 % CI"
        if len(cells) else "", grid_text=_grid_text(data), timeline=trace_figure, timeline_lines=trace_lines,
        attack_summary=s.attack_configs.drop(columns=["job_ids"], errors="ignore") if len(s.attack_configs) else None)


def _n_text(s: Summary) -> str:
    n = int(round(float(s.best.n_mean.max()))) if "n_mean" in s.best and len(s.best) else 0
    seeds = int(s.best.n_seeds.max()) if "n_seeds" in s.best and len(s.best) else 0
    return f"{n} attacked samples, {seeds} seed{'s' if seeds != 1 else ''}"


def _conventions(s: Summary) -> list[str]:
    """The conventions box: what every table's cells mean, stated once (the notes it covers are not repeated)."""
    return ["Numbers: 3 decimals; below 0.001 in scientific notation (1.23e-04). Accuracy and success rate are "
            "shares of the attacked test samples (0-1).",
            ci_note(s.stats), ci_note(s.stats, "segment"), INCOMPLETE_NOTE, PAPER_METRIC_NOTE,
            f"Perturbation: {hl.PERTURBATION_UNIT}; time: seconds to attack the attacked samples (a `limit` makes "
            "them a subset of the test set).",
            "Protocol: 'paper split (leaky)' is the paper's random split of segments (segments of one recording on "
            "both sides); 'clean split' groups by recording; 'speaker-independent' holds out speakers.",
            "Flags: 'above clean': accuracy under attack above the clean accuracy of the same samples (attacks use "
            "predicted labels, so a wrong clean prediction can be pushed to the right one); 'fooled no sample': "
            "success rate 0; 'N unchanged': N attacked samples returned with zero perturbation (e.g. BoundaryAttack "
            "found no adversarial starting point), over all seeds; 'stock estimator': ART's on probabilities.",
            "Best configuration: per attack and corpus, the lowest accuracy under attack (ties: the lowest "
            "perturbation, then the cheapest).", *byo_notes.conventions(s.train)]


def _grid_text(data: RunData) -> str:
    try:
        return data.paths.grid.read_text(encoding="utf-8")
    except OSError:
        return ""


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
    return tidy.attach(label_paper_metric([t for t in out if t is not None]), s)


def write_report(data: RunData, *, audio_limit: int = 4) -> Path:
    """Write every table, figure, sound, provenance.json, README.md and index.html; returns report/.
    `audio_limit`: attacks that get clean/adversarial WAVs (Griffin-Lim costs about a second per file)."""
    out = data.paths.report_dir
    for sub in ("tables", "figures", "audio"):  # a rerun must not leave a previous reduce's files behind
        shutil.rmtree(out / sub, ignore_errors=True)
    rep = _sections(data, audio_limit)
    for t in [*rep.all_tables, rep.complete]:
        write_table(t, out / "tables")
    if rep.attack_summary is not None:  # the columns the tidy attack-table CSVs leave out (runner.reduce.tidy)
        with atomic_path(out / "tables" / f"{tidy.SUMMARY_CSV}.csv") as tmp:
            rep.attack_summary.to_csv(tmp, index=False, float_format="%.6g")
    write_json(out / "provenance.json", rep.prov)
    write_text(out / "README.md", render_markdown(rep, out))
    write_text(out / "index.html", render_html(rep))
    return out


def render_markdown(rep: Report, root: Path) -> str:
    """README.md: the same report as index.html, figures and sounds linked (tables in the builders' own text)."""
    parts = [f"# {rep.title}", "", f"Reproduction of *{rep.paper}* · " + " · ".join(rep.meta), ""]
    parts += [f"> **{b.title}** {b.text}\n" for b in rep.banners]
    if rep.headline is not None:
        frame = headline_frame(rep.headline)
        frame.attrs["labels"] = 3 if "corpus" in frame else 2
        head = Table("Headline", "robust accuracy under each attack's best configuration", frame, frame,
                     [rep.headline.setting, rep.headline.summary, *([rep.paper_ci] if rep.paper_ci else [])])
        parts += ["## Summary", "", to_markdown(head)]
    parts += [f"![{m.caption}]({m.path.relative_to(root).as_posix()})\n" for m in rep.headline_figures]
    parts += ["## Tables", "", "Tables are also in `tables/` as CSV (numbers) and LaTeX.", ""]
    parts += [to_markdown(t) for t in rep.tables]
    if rep.compare:
        parts += ["## Paper vs reproduced", ""] + [to_markdown(t) for t in rep.compare]
    if rep.protocol:
        parts += ["## Paper protocol vs leak-free protocol", ""] + [to_markdown(t) for t in rep.protocol]
    if rep.beyond:
        parts += ["## Beyond the paper", "", BEYOND_INTRO, ""] + [to_markdown(t) for t in rep.beyond]
    if rep.figures:
        parts += ["## Figures", ""] + [f"![{m.caption}]({m.path.relative_to(root).as_posix()})\n\n{m.caption}\n"
                                       for m in rep.figures]
    if rep.listening:
        parts += ["## Listen", ""] + [_md_listen(e, root) for e in rep.listening]
    parts += ["", "## Completeness", ""]
    parts.append(to_markdown(rep.complete) if not rep.complete.display.empty else "Every planned job finished.\n")
    if rep.prov.get("skipped"):
        parts += ["Skipped while reducing:", "", *[f"- {n}" for n in rep.prov["skipped"]], ""]
    parts += ["## Provenance", "", _md_provenance(rep.prov), "### Job timeline", ""]
    if rep.timeline is not None:
        parts.append(f"![{rep.timeline.caption}]({rep.timeline.path.relative_to(root).as_posix()})\n")
    parts += [f"- {line}" for line in rep.timeline_lines]
    return "\n".join(parts).rstrip() + "\n"


def _md_listen(e: Listen, root: Path) -> str:
    head = f"- {e.attack}, {e.dataset} ({e.setting or '–'}): true {e.true}, {e.clean_pred} → {e.adv_pred}; {e.size}"
    head += f"; {e.quality}" if e.quality else ""
    if e.reason:
        return f"{head}; {e.reason}"
    links = [f"[{w}]({p.relative_to(root).as_posix()})" for w, p in
             (("clean", e.clean), ("adversarial", e.adversarial), ("difference", e.difference)) if p is not None]
    return f"{head}; " + " · ".join(links)


def render_html(rep: Report) -> str:
    """index.html from the Jinja2 templates (runner/reduce/templates), images and sounds embedded."""
    return htmlpage.render(rep, BEYOND_INTRO)


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
        write_report(load_run(paths, progress=progress), audio_limit=audio_limit)
    return (Path(out).resolve() if out is not None else run.root) / "report"
