"""A report table and its three renderings: CSV (the numbers), Markdown and LaTeX (the formatted cells).

Hand-written renderers rather than pandas' (which need tabulate/jinja2) so the layout is fixed and golden-testable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sercore.io import atomic_path, write_text

INCOMPLETE = "†"
INCOMPLETE_NOTE = f"{INCOMPLETE} rests on incomplete data: some planned jobs of this cell are missing or failed."


@dataclass
class Table:
    """`display`: formatted cells (label columns first); `data`: the numbers behind them, one row per cell;
    `csv`: the table's tidy CSV where `data` holds more than the table (runner.reduce.tidy), else `data` is."""

    name: str  # file stem, paper numbering kept: T03_clean_accuracy
    title: str
    display: pd.DataFrame
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    csv: pd.DataFrame | None = None

    @property
    def csv_frame(self) -> pd.DataFrame:
        return self.csv if self.csv is not None else self.data

    @property
    def number(self) -> str:
        return self.name.split("_", 1)[0]


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table, *, heading: str = "###") -> str:
    """A titled GitHub-flavoured Markdown table; label columns left-aligned, the rest right-aligned."""
    df = table.display
    cols = [str(c) for c in df.columns]
    n_labels = _label_columns(df)
    align = [":---" if i < n_labels else "---:" for i in range(len(cols))]
    lines = [f"{heading} {table.number}. {table.title}", "", "| " + " | ".join(_md_cell(c) for c in cols) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    lines += [""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", INCOMPLETE: r"$^\dagger$",
        "–": "--", "≤": r"$\le$", "∞": r"$\infty$"}


def tex_escape(text: object) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def to_latex(table: Table) -> str:
    """A booktabs table environment with caption and label (\\usepackage{booktabs})."""
    df = table.display
    n_labels = _label_columns(df)
    spec = "l" * n_labels + "r" * (len(df.columns) - n_labels)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{tex_escape(table.title)}}}",
             rf"\label{{tab:{table.name}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(tex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines += [r"\par\smallskip\footnotesize " + r" \\ ".join(tex_escape(n) for n in table.notes)]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def _label_columns(df: pd.DataFrame) -> int:
    """Leading label columns are recorded in df.attrs['labels'] by the builders (default 1)."""
    return int(df.attrs.get("labels", 1))


def _plain(value: Any) -> Any:
    """A typed cell (arrays, dicts from merge's list/map/struct columns) as plain JSON values, NaN as null."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def csv_frame(data: pd.DataFrame) -> pd.DataFrame:
    """`data` with its nested cells (lists, dicts) written as JSON text: the CSV is where they are encoded."""
    def nested(v: Any) -> bool:
        return isinstance(v, dict | list | tuple | np.ndarray)

    columns = [c for c in data.columns if data[c].dtype == object and data[c].map(nested).any()]
    if not columns:
        return data
    out = data.copy()
    for c in columns:
        out[c] = data[c].map(lambda v: json.dumps(_plain(v)) if nested(v) else v)
    return out


def write_table(table: Table, folder: Path) -> list[Path]:
    """Write <name>.csv, .md and .tex into `folder` (atomically); returns the three paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv, md, tex = (folder / f"{table.name}.{ext}" for ext in ("csv", "md", "tex"))
    with atomic_path(csv) as tmp:
        csv_frame(table.csv_frame).to_csv(tmp, index=False, float_format="%.6g")
    write_text(md, to_markdown(table))
    write_text(tex, to_latex(table))
    return [csv, md, tex]
