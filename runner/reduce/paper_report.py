"""The report's *Paper vs reproduced* section: P00 (one summary line per paper table), P04 (the best
configurations the paper's rule picks from its own sweeps vs ours) and one P<table> per paper table with at least
one compared cell (paper, ours, Δ per cell; runner/reduce/paper_compare.py finds the cells).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from sercore import vocab

from . import aggregate as agg
from .paper_compare import compared_cells, paper_results, paper_setup
from .render import Table
from .rundata import RunData
from .summary import Summary


def _fmt(v: float, what: str, metric: str) -> str:
    if v is None or pd.isna(v):
        return "–"
    if what == "rank":
        return f"{v:g}"
    if metric == "accuracy":
        return f"{v:.4f}"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}"


def _delta_text(v: float, what: str, metric: str) -> str:
    if v is None or pd.isna(v):
        return "–"
    return f"{v:+g}" if what == "rank" else format(v, "+.4f" if metric == "accuracy" else "+.3g")


def summary_line(cells: pd.DataFrame) -> dict[str, Any]:
    """cells printed, cells compared, median |Δ| and the worst cell of one table."""
    done = cells.dropna(subset=["ours"])
    rec: dict[str, Any] = {"printed": len(cells), "compared": len(done), "median_abs_delta": math.nan,
                           "worst_cell": "–", "worst_delta": math.nan}
    if len(done):
        worst = done.loc[done.delta.abs().idxmax()]
        rec.update(median_abs_delta=float(done.delta.abs().median()), worst_delta=float(worst.delta),
                   worst_cell=f"{worst.row} | {worst.column}" + (" (rank)" if worst.what == "rank" else ""))
    return rec


def _contradiction_notes(no: str) -> list[str]:
    out = []
    for c in paper_results().get("contradictions", []):
        if any(cell.split(" | ")[0] == no for cell in c["cells"]) or str(c.get("primary")) == no:
            out.append(f"The paper contradicts itself: {', '.join(c['cells'])} print {c['printed']}, "
                       f"{c['versus']} prints {c['other']}; both are compared, each in its table.")
    return out


def _pick_text(pick: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pick.items()) or "(one setting)"


def table_picks(s: Summary) -> Table | None:
    """P04: per attack and corpus, the configuration the paper's rule picks from its own sweeps (Table 4's cells
    are lost in the text: `derived` in paper_results.yaml) next to the one our rule picks."""
    best = paper_setup(s.paper_best)
    if best.empty:
        return None
    rows, data = [], []
    for attack, picks in sorted(paper_results()["derived"]["4"].items(), key=lambda kv: vocab.attack_rank(kv[0])):
        for d, pick in picks.items():
            hit = best[(best.attack == attack) & (best.dataset == d)]
            if hit.empty:
                continue
            r, params = hit.iloc[0], agg.param_values(hit.iloc[0].params)
            ours = {k: (r.get("source_attack", r.attack) if k == "attack" else params.get(k)) for k in pick}
            same = all(str(ours[k]) == str(v) or _num_eq(ours[k], v) for k, v in pick.items())
            rows.append({"attack": vocab.ATTACK_DISPLAY.get(attack, attack), "dataset": vocab.CORPUS_DISPLAY.get(d, d),
                         "paper": _pick_text(pick), "ours": _pick_text(ours), "same": "yes" if same else "no"})
            data.append({"attack": attack, "dataset": d, "paper": json.dumps(pick), "ours": json.dumps(ours),
                         "same": same})
    if not rows:
        return None
    display = pd.DataFrame(rows)
    display.attrs["labels"] = 2
    n_same = sum(x["same"] for x in data)
    return Table("P04_paper_picks", "Paper vs reproduced, Table 4: best configuration per attack and corpus",
                 display, pd.DataFrame(data),
                 [f"{n_same} of {len(data)} picks agree. The paper's picks: its rule (lowest accuracy, ties lowest "
                  "perturbation) applied to its own sweep tables; Table 4's cells are lost in the text."])


def _num_eq(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except (TypeError, ValueError):
        return False


def _paper_table(no: object, t: dict[str, Any], sub: pd.DataFrame, line: dict[str, Any]) -> Table | None:
    """P<table>: each compared cell of one paper table (None when no cell of it was compared)."""
    done = sub.dropna(subset=["ours"])
    if done.empty:
        return None
    metric = t.get("metric", "")
    rows = []
    for _, c in done.iterrows():
        m = c.column if metric == "metric" else metric
        rec = {"row": c.row, "column": c.column + (" (rank)" if c.what == "rank" else ""),
               "paper": _fmt(c.paper, c.what, m), "ours": _fmt(c.ours, c.what, m),
               "Δ": _delta_text(c.delta, c.what, m)}
        if "time" in m:
            rec["ours / paper"] = f"{c.ours / c.paper:.3g}" if c.paper else "–"
        rows.append(rec)
    display = pd.DataFrame(rows)
    display.attrs["labels"] = 2
    worst = f"{line['worst_cell']} (Δ {line['worst_delta']:+.3g})"
    notes = [f"{line['compared']} of {line['printed']} printed cells compared; median |Δ| "
             f"{line['median_abs_delta']:.3g}; worst {worst}. Δ = ours − paper.",
             *_contradiction_notes(str(no))]
    name = f"P{str(no).split('-')[0].zfill(2)}_paper_table_{no}"
    return Table(name, f"Paper vs reproduced, Table {no}: {t['title']}", display, done.reset_index(drop=True), notes)


def _summary_table(summary: list[dict[str, Any]]) -> Table:
    """P00: one line per paper table (cells printed, compared, median and worst Δ)."""
    frame = pd.DataFrame(summary)
    display = frame.assign(median_abs_delta=frame.median_abs_delta.map(lambda v: "–" if pd.isna(v) else f"{v:.3g}"),
                           worst_delta=frame.worst_delta.map(lambda v: "–" if pd.isna(v) else f"{v:+.3g}"))
    display = display.rename(columns={"median_abs_delta": "median |Δ|", "worst_cell": "worst cell",
                                      "worst_delta": "worst Δ"})
    display.attrs["labels"] = 2
    total, compared = int(frame.printed.sum()), int(frame.compared.sum())
    return Table("P00_paper_summary", "Paper vs reproduced: every printed number, one line per paper table",
                 display, frame, [f"{compared} of the paper's {total} printed numbers compared (paper protocol, "
                                  "attacks on predicted labels, the paper's corpora, the stages in this run).",
                                  "Configurations are matched by the paper's swept parameter; settings this run "
                                  "fixed differently (epochs, width, max_iter, limit) are in its grid."])


def comparison_tables(data: RunData, s: Summary) -> list[Table]:
    """P00 (one summary line per paper table) and one P<table> per table with at least one compared cell."""
    cells = compared_cells(data, s)
    tables = paper_results()["tables"]
    out, summary = [], []
    for no, t in sorted(tables.items(), key=lambda kv: int(str(kv[0]).split("-")[0])):
        sub = cells[cells.table == str(no)]
        line = summary_line(sub)
        summary.append({"table": str(no), "title": t["title"], **line})
        table = _paper_table(no, t, sub, line)
        if table is not None:
            out.append(table)
    picks = table_picks(s)
    return [_summary_table(summary), *([picks] if picks is not None else []), *out]
