"""The HTML report, rendered from Jinja2 templates (runner/reduce/templates/*.html.j2) out of one `Report`.

The HTML shows the tables' cells in the report's one number format (3 decimals, scientific below 0.001:
cells.fmt_num); the Markdown, LaTeX and CSV keep the builders' own text (golden-tested). Notes that the
conventions box already states are not repeated under each table.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from .cells import fmt_num
from .headline import PROTOCOL_DISPLAY, Banner, Headline
from .media import Listen, Media
from .render import INCOMPLETE_NOTE, Table

TEMPLATES = Path(__file__).parent / "templates"
AUDIO_FILE_CAP = 2 * 2**20  # bytes per embedded WAV
AUDIO_TOTAL_CAP = 12 * 2**20  # bytes of embedded audio in index.html
NUMBER = re.compile(r"(?<![\w.=])[-+]?\d+\.\d+(?:e[-+]?\d+)?(?![\w.])|(?<![\w.=])[-+]?\d+e[-+]?\d+(?![\w.])")
HEADER_UNITS = {"perturbation": "perturbation (z)", "time (s)": "time (s, attacked samples)"}


@dataclass
class Report:
    """Everything the Markdown and HTML renderers show, built once (runner.reduce.report._sections)."""

    title: str
    paper: str
    prov: dict[str, Any]
    meta: list[str]
    banners: list[Banner]
    headline: Headline | None
    tables: list[Table]
    compare: list[Table]
    protocol: list[Table]
    beyond: list[Table]
    complete: Table
    media: list[Media]  # figures
    listening: list[Listen]
    conventions: list[str]
    headline_figures: list[Media] = field(default_factory=list)  # dot plot, paper-vs-ours scatter
    paper_ci: str = ""  # "N of M paper cells inside our CI" (empty when none has an interval)
    grid_text: str = ""
    timeline: Media | None = None  # runner.reduce.timeline: one bar per job, by stage and host
    timeline_lines: list[str] = field(default_factory=list)  # per stage wall time and memory, or why no figure
    attack_summary: pd.DataFrame | None = None  # every configuration's summary columns: tables/attack_summary.csv

    @property
    def figures(self) -> list[Media]:
        return [m for m in self.media if m.kind == "figure"]

    @property
    def all_tables(self) -> list[Table]:
        return [*self.tables, *self.compare, *self.protocol, *self.beyond]


def tidy(text: object) -> str:
    """Every decimal number of a cell in the one format (a '+' sign kept); parameter texts (`eps=0.25`) alone."""
    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        out = fmt_num(float(token))
        return "+" + out if token.startswith("+") and not out.startswith("-") else out
    return NUMBER.sub(one, str(text))


def _cell(value: object, column: str, label: bool) -> str:
    if column == "protocol" and str(value) in PROTOCOL_DISPLAY:
        return PROTOCOL_DISPLAY[str(value)]
    return str(value) if label else tidy(value)


def table_view(t: Table, skip_notes: set[str]) -> dict[str, Any]:
    """A table as the template needs it: header, rows of (text, is_label) cells, its own notes."""
    n_labels = int(t.display.attrs.get("labels", 1))
    cols = [str(c) for c in t.display.columns]
    rows = [[(_cell(v, cols[i], i < n_labels), i < n_labels) for i, v in enumerate(row)]
            for row in t.display.itertuples(index=False)]
    return {"name": t.name, "number": t.number, "title": t.title, "rows": rows,
            "header": [(HEADER_UNITS.get(c, c), i < n_labels) for i, c in enumerate(cols)],
            "notes": [n for n in t.notes if n not in skip_notes]}


def data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


class _AudioBudget:
    """Embeds WAVs up to the caps; beyond them the player links the file beside index.html."""

    def __init__(self) -> None:
        self.left = AUDIO_TOTAL_CAP

    def src(self, path: Path | None) -> str:
        if path is None:
            return ""
        size = path.stat().st_size
        if size <= AUDIO_FILE_CAP and size <= self.left:
            self.left -= size
            return data_uri(path, "audio/wav")
        return f"audio/{path.name}"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _listen_view(items: list[Listen], audio: _AudioBudget) -> list[dict[str, Any]]:
    return [{"item": e, "clean": audio.src(e.clean), "adversarial": audio.src(e.adversarial),
             "difference": audio.src(e.difference)} for e in items]


def _prov_rows(prov: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, json.dumps(v, indent=1) if isinstance(v, dict) else ("–" if v is None else str(v)))
            for k, v in prov.items()]


def render(report: Report, beyond_intro: str = "") -> str:
    """The self-contained index.html: images and (up to the caps) sounds embedded."""
    skip = {*report.conventions, INCOMPLETE_NOTE}
    audio = _AudioBudget()
    groups = [(key, title, [table_view(t, skip) for t in tables]) for key, title, tables in (
        ("tables", "Tables", report.tables), ("paper", "Paper vs reproduced", report.compare),
        ("protocols", "Paper protocol vs leak-free protocols", report.protocol),
        ("beyond", "Beyond the paper", report.beyond)) if tables]
    complete = table_view(report.complete, skip) if not report.complete.display.empty else None
    page = environment().get_template("report.html.j2")
    return page.render(
        r=report, beyond_intro=beyond_intro, groups=groups, complete=complete,
        figures=[(m, data_uri(m.path, "image/png")) for m in report.figures],
        headline_figures=[(m, data_uri(m.path, "image/png")) for m in report.headline_figures],
        timeline=(report.timeline, data_uri(report.timeline.path, "image/png")) if report.timeline else None,
        listening=_listen_view(report.listening, audio), prov_rows=_prov_rows(report.prov),
        toc=[(t.name, f"{t.number}. {t.title}") for t in report.all_tables]) + "\n"


def headline_frame(h: Headline) -> pd.DataFrame:
    """The headline rows (and worst-case rows) as one frame, for the Markdown README."""
    return pd.DataFrame([*h.rows, *h.worst], columns=h.columns).fillna("")
