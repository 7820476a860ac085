"""W02: do spectrogram-domain adversarial examples survive as sound?

Rows come from spectrogram-domain attack jobs run with `resynth: N` (sercore.attack_job.resynth_columns):
`y_clean_resynth` and `y_adv_resynth` are the model's predictions on the clean and adversarial inputs after a round
trip through audio (Griffin-Lim, then the paper's features again: sercore.resynthesis); -1 (or missing, NaN, in a
shard of a job without the option) means not checked. Griffin-Lim loses phase and the paper's min-referenced dB
shifts a re-synthesised segment as a whole, so the clean segment's own round trip is the control: an AE "survives
beyond the control" when its round trip is judged differently from the clean segment's round trip.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sercore.stats import Interval, StatsSettings

from . import aggregate as agg
from .cells import cells_table, config_labels, config_order, fmt_ci, label_frame
from .render import Table
from .uncertainty import recording_ci

KEYS = ["dataset", "protocol", "model_output", "attack", "params"]
COLUMNS = ("y_clean_resynth", "y_adv_resynth")
# metric -> (0/1 column, rows it is the share of: all checked, or the AEs that fooled the model)
METRICS = {"fooled": ("fooled", "checked"), "survives": ("survives", "fooled"),
           "control": ("control", "checked"), "beyond": ("beyond", "fooled")}


def checked_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows whose round trip was checked, with the 0/1 columns of METRICS; empty when none was."""
    if rows.empty or not set(COLUMNS) <= set(rows):
        return pd.DataFrame()
    rows = rows.reset_index(drop=True)
    yc, ya = (pd.to_numeric(rows[c], errors="coerce") for c in COLUMNS)
    sub = rows[(yc >= 0) & (ya >= 0)]
    if sub.empty:
        return pd.DataFrame()
    yc, ya = yc[sub.index].astype(int), ya[sub.index].astype(int)
    return sub.assign(fooled=(sub.y_adv != sub.y_clean).astype(float), survives=(ya != sub.y_clean).astype(float),
                      control=(yc != sub.y_clean).astype(float), beyond=(ya != yc).astype(float))


def _share(rows: pd.DataFrame, column: str, settings: StatsSettings) -> Interval | None:
    return recording_ci(rows, column, settings) if len(rows) else None


def resynthesis_cells(rows: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """One row per configuration (KEYS): n checked, n fooled and each METRICS share with its recording-level CI."""
    checked = checked_rows(rows)
    if checked.empty:
        return pd.DataFrame()
    out = []
    for key, grp in checked.groupby(KEYS, dropna=False, sort=True):
        fooled = grp[grp.fooled == 1.0]
        rec: dict[str, Any] = {**dict(zip(KEYS, key, strict=True)), "n": len(grp), "n_fooled": len(fooled)}
        for metric, (column, among) in METRICS.items():
            iv = _share(grp if among == "checked" else fooled, column, settings)
            rec[metric] = iv.estimate if iv else float("nan")
            rec[f"{metric}_lo"], rec[f"{metric}_hi"] = (iv.low, iv.high) if iv else (float("nan"),) * 2
            if iv:
                rec.setdefault("ci_unit", iv.unit)
        out.append(rec)
    return pd.DataFrame(out)


def _fmt(r: pd.Series, metric: str) -> str:
    return fmt_ci(r[metric], r[f"{metric}_lo"], r[f"{metric}_hi"], None, ".3f") \
        if pd.notna(r[metric]) else "–"


NOTES = [
    "Each checked example (the first `resynth` samples of every chunk) is turned back into audio "
    "(Griffin-Lim) and through the paper's features again. 'AEs fooling': share of checked samples "
    "whose adversarial prediction differs from the clean one; 'still fooling as sound': share of "
    "those whose round trip still differs from the clean prediction.",
    "Control: share of clean segments whose own round trip changes the prediction (Griffin-Lim's "
    "phase loss and the paper's min-referenced dB move every segment). 'Survives beyond the "
    "control': among fooling AEs, the round trip of the AE is judged differently from the round trip "
    "of its clean segment.",
]


def _display(cells: pd.DataFrame) -> pd.DataFrame:
    recs: list[dict[str, Any]] = []
    for _, r in config_order(cells).iterrows():
        recs.append({
            **config_labels(r, agg.params_label(r.params)), "n checked": int(r.n), "AEs fooling": _fmt(r, "fooled"),
            "still fooling as sound": _fmt(r, "survives"), "control (clean round trip flips)": _fmt(r, "control"),
            "survives beyond the control": _fmt(r, "beyond")})
    return label_frame(recs, 5)


def table_resynthesis(rows: pd.DataFrame, settings: StatsSettings, note: str) -> Table | None:
    """W02, or None when no attack job checked its examples as sound (`resynth: 0`, the default)."""
    return cells_table("W02_resynthesis", "Do spectrogram adversarial examples survive as sound?",
                       resynthesis_cells(rows, settings), _display, [*NOTES, note])
