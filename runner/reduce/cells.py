"""How a report cell is written: number formats, corpus and attack display names, the incomplete-data dagger and
the frame a table's display rows go into.

One module, so every table, the headline and the HTML page format a number the same way; it imports nothing
else of the reducer, so any table module can use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from sercore import vocab

from .render import INCOMPLETE, INCOMPLETE_NOTE, Table

# Format specs of the paper's tables: accuracy, perturbation (mean, std), time, loss.
ACC, PERT, TIME, LOSS = ".4f", (".4g", ".2g"), ".1f", ".4f"
SCI_BELOW = 1e-3  # the one scientific rule: |v| below this (and not 0) is written 1.23e-04


def fmt_num(value: Any, digits: int = 3) -> str:
    """The report's one number format: 3 decimals; |v| < 0.001 (not 0) in scientific notation; '–' if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    if v != 0 and abs(v) < SCI_BELOW:
        return f"{v:.2e}"
    return f"{v:.{digits}f}"


def fmt_interval(mean: Any, lo: Any, hi: Any) -> str:
    """'0.412 [0.371, 0.455]' in the report's number format; the mean alone without an interval."""
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return fmt_num(mean)
    return f"{fmt_num(mean)} [{fmt_num(lo)}, {fmt_num(hi)}]"


def fmt_mean_std(mean: float | None, std: float | None, spec: str | tuple[str, str]) -> str:
    """'0.9092' or '0.9092 ± 0.0100'; '–' for a missing value. `spec` may give the mean's and the std's format."""
    mean_spec, std_spec = spec if isinstance(spec, tuple) else (spec, spec)
    if mean is None or pd.isna(mean):
        return "–"
    text = format(mean, mean_spec)
    if std is not None and not pd.isna(std):
        text += " ± " + format(std, std_spec)
    return text


def fmt_ci(mean: float | None, lo: float | None, hi: float | None, std: float | None,
           spec: str | tuple[str, str]) -> str:
    """'0.412 [0.371, 0.455]' (95 % CI over test samples), then ' ± 0.010' (std over seeds) when there are
    several seeds; without a CI the same as `fmt_mean_std`."""
    mean_spec = spec[0] if isinstance(spec, tuple) else spec
    if mean is None or pd.isna(mean) or lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return fmt_mean_std(mean, std, spec)
    text = f"{format(mean, mean_spec)} [{format(lo, mean_spec)}, {format(hi, mean_spec)}]"
    if std is not None and not pd.isna(std):
        text += " ± " + format(std, spec[1] if isinstance(spec, tuple) else spec)
    return text


def fmt_value(value: Any, spec: str) -> str:
    """`value` in `spec`; '–' for None or NaN."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def fmt_delta(ours: Any, other: Any, spec: str) -> str:
    """ours − other with its sign, in `spec`; '–' when either is missing."""
    if ours is None or other is None or pd.isna(ours) or pd.isna(other):
        return "–"
    return format(float(ours) - float(other), "+" + spec.lstrip("+"))


def corpus_name(name: Any) -> str:
    """A corpus's display name (EmoDB), or the name itself for a corpus vocab does not know."""
    return vocab.CORPUS_DISPLAY.get(str(name), str(name))


def attack_name(name: Any) -> str:
    """An attack's display name (C&W L2), or the name itself."""
    return vocab.ATTACK_DISPLAY.get(str(name), str(name))


def config_labels(r: Any, params: str) -> dict[str, str]:
    """The label cells of an attack configuration row (dataset, protocol, model output, attack, parameters)."""
    return {"dataset": corpus_name(r.dataset), "protocol": r.protocol, "model output": r.model_output,
            "attack": attack_name(r.attack), "params": params}


def config_order(cells: pd.DataFrame, *extra: str, **assign: Any) -> pd.DataFrame:
    """Configuration rows in report order: corpus, protocol, model output, attack, parameters, then `extra`."""
    order = cells.assign(_d=cells.dataset.map(vocab.corpus_rank), _a=cells.attack.map(vocab.attack_rank), **assign)
    return order.sort_values(["_d", "protocol", "model_output", "_a", "params", *extra])


def cells_table(name: str, title: str, cells: pd.DataFrame, display: Callable[[pd.DataFrame], pd.DataFrame],
                notes: list[str]) -> Table | None:
    """A table whose numbers are `cells` (one row per cell) and whose display is `display(cells)`; None when
    there are no cells (the run has nothing of that kind)."""
    if cells.empty:
        return None
    return Table(name, title, display(cells), cells.reset_index(drop=True), notes)


def label_frame(rows: list[dict], n_labels: int) -> pd.DataFrame:
    """A table's display rows; its first `n_labels` columns are labels (left-aligned by the renderers)."""
    df = pd.DataFrame(rows)
    df.attrs["labels"] = n_labels
    return df


def flag_incomplete(text: str, key: tuple, incomplete: dict[tuple, str]) -> str:
    """`text` with the dagger when its cell's planned jobs are not all done."""
    return text + f" {INCOMPLETE}" if key in incomplete else text


def incomplete_notes(flagged: bool, extra: list[str] | None = None) -> list[str]:
    """A table's notes, with the dagger's note when a cell carries it."""
    return [*(extra or []), *([INCOMPLETE_NOTE] if flagged else [])]
