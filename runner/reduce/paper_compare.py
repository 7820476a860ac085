"""Every number the paper prints, next to the reproduced one: paper vs ours vs Δ per cell, and a summary line per
table (cells compared, median |Δ|, worst cell).

The paper's cells live in runner/data/paper_results.yaml (one entry per table, addressed by row and column). A
cell is compared when the run holds what it measures: the paper protocol with attacks on predicted labels (the
paper's setup), one of the paper's corpora, and the stage the table comes from. Attack configurations are matched
by the paper's swept parameter (eps, max_iter, theta, th; the C&W variant; Table 4's picks by our own best
configuration), so a grid whose fixed parameters differ from the paper's is still compared, and says so in its
settings. Δ = ours − paper; times are also shown as a ratio (different hardware).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sercore.vocab import PAPER_CORPORA

from . import aggregate as agg
from .paper_tables import dataset_ranks, tuned_label
from .rundata import RunData
from .summary import Summary
from .tables import table_tuned, tune_rows

PAPER_RESULTS = Path(__file__).parents[1] / "data" / "paper_results.yaml"
KINDS = {"clean", "best", "corpus_durations", "corpus_emotions", "corpus_segments", "arch_params", "lstm_units",
         "model_compare", "tuned", "composition", "sweep", "best_by_dataset", "rank", "gender"}
SUFFIX = {"all": "", "male": "_male", "female": "_female"}
# Table 9's label names -> sertack's emotion vocabulary
EMOTION = {"angry": "anger", "bored": "boredom", "happy": "happiness", "sad": "sadness", "surprised": "surprise"}
KEYS = ["table", "row", "column", "what"]


@cache
def paper_results(path: Path = PAPER_RESULTS) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def paper_cells(path: Path = PAPER_RESULTS) -> pd.DataFrame:
    """One row per printed number: table, row, column, what (value | rank), value."""
    rows = []
    for no, t in paper_results(path)["tables"].items():
        for what, block in (("value", t["rows"]), ("rank", t.get("ranks") or {})):
            for key, vals in block.items():
                for col, v in zip(t["columns"], vals, strict=True):
                    if v is not None:
                        rows.append({"table": str(no), "row": str(key), "column": str(col), "what": what,
                                     "value": float(v)})
    return pd.DataFrame(rows)


def _same(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(a) == str(b)


def paper_setup(df: pd.DataFrame) -> pd.DataFrame:
    """The reproduction that matches the paper's setup: paper protocol, attacks on predicted labels."""
    if df.empty:
        return df
    if "protocol" in df:
        df = df[df.protocol.astype(str) == "paper"]
    if "labels" in df:
        df = df[df.labels.astype(str) == "predicted"]
    if "estimator" in df:
        df = df.sort_values("estimator", kind="mergesort")
    return df


class _Run:
    """The run's frames restricted to the paper's setup, and lookups by the paper's cell addresses."""

    def __init__(self, data: RunData, s: Summary) -> None:
        self.data, self.s = data, s
        self.train = paper_setup(s.train)
        self.configs = paper_setup(s.attack_configs)
        self.best = paper_setup(s.best)
        self.paper_best = paper_setup(s.paper_best)

    def best_row(self, attack: str, dataset: str, paper_rows: bool = True) -> pd.Series | None:
        df = self.paper_best if paper_rows else self.best
        if df.empty:
            return None
        hit = df[(df.attack == attack) & (df.dataset == dataset)]
        return hit.iloc[0] if len(hit) else None

    def config(self, attack: str, dataset: str, param: str, value: Any) -> pd.Series | None:
        """The configuration whose `param` equals the paper's column value (the best of several, if the grid
        swept other parameters too)."""
        if self.configs.empty:
            return None
        sub = self.configs[(self.configs.attack == attack) & (self.configs.dataset == dataset)]
        sub = sub[sub.params.map(lambda p: _same(agg.param_values(p).get(param), value))]
        return agg.best_configs(sub).iloc[0] if len(sub) else None

    def clean(self, dataset: str, g: str) -> float:
        """Accuracy without attack on the attacked samples (Tables 5, 45, 47: 'Original')."""
        df = self.paper_best
        col = f"clean_accuracy{SUFFIX[g]}_mean"
        if df.empty or col not in df:
            return math.nan
        return float(df.loc[df.dataset == dataset, col].mean())


def _val(r: pd.Series | None, col: str) -> float:
    return math.nan if r is None or col not in r or pd.isna(r[col]) else float(r[col])


def _cell(no: str, row: Any, col: Any, ours: float, what: str = "value", **extra: Any) -> dict[str, Any]:
    return {"table": no, "row": str(row), "column": str(col), "what": what, "ours": ours, **extra}


def _metric_col(metric: str, g: str = "all") -> str:
    return f"{metric}{SUFFIX[g]}_mean" if metric in ("accuracy", "perturbation", "loss") else f"{metric}_mean"


def _clean(no: str, t: dict, run: _Run) -> list[dict]:
    out = []
    for g in t["rows"]:
        for d in t["columns"]:
            sub = run.train[run.train.dataset == d] if not run.train.empty else run.train
            col = f"accuracy{SUFFIX[g]}"
            if len(sub) and col in sub:
                out.append(_cell(no, g, d, float(sub[col].mean()), seeds=sub.seed.nunique()))
    return out


def _best(no: str, t: dict, run: _Run) -> list[dict]:
    out = []
    for key in t["rows"]:
        attack, d = key.split("/")
        for g in t["columns"]:
            if attack == "original":
                out.append(_cell(no, key, g, run.clean(d, g)))
            else:
                r = run.best_row(attack, d)
                out.append(_cell(no, key, g, _val(r, _metric_col(t["metric"], g)),
                                 params=None if r is None else r.params, source_attack=_src(r)))
    return out


def _src(r: pd.Series | None) -> str | None:
    return None if r is None else str(r.get("source_attack", r.attack))


def _sweep(no: str, t: dict, run: _Run) -> list[dict]:
    out = []
    for key in t["rows"]:
        d, g = (key.split("/") + ["all"])[:2]
        for col in t["columns"]:
            if t["param"] == "attack":  # C&W: one column per variant
                r, metric = run.best_row(col, d, paper_rows=False), t["metric"]
            elif t["param"] == "metric":  # BoundaryAttack: one setting, columns are metrics
                r, metric = run.best_row(t["attack"], d, paper_rows=False), col
            else:
                r, metric = run.config(t["attack"], d, t["param"], col), t["metric"]
            out.append(_cell(no, key, col, _val(r, _metric_col(metric, g)), params=None if r is None else r.params))
    return out


def _best_by_dataset(no: str, t: dict, run: _Run) -> list[dict]:
    return [_cell(no, a, d, _val(run.best_row(a, d), _metric_col(t["metric"])), source_attack=_src(run.best_row(a, d)))
            for a in t["rows"] for d in t["columns"]]


def _rank(no: str, t: dict, run: _Run) -> list[dict]:
    out = []
    for a in t["rows"]:
        for d in t["columns"]:
            ours = run.clean(d, "all") if a == "original" else _val(run.best_row(a, d), _metric_col(t["metric"]))
            out.append(_cell(no, a, d, ours))
    if run.paper_best.empty:
        return out
    ranked = dataset_ranks(run.paper_best, run.s.variants, t["metric"])
    ranked = ranked[ranked.dataset.isin(PAPER_CORPORA)]
    full = {a for a, grp in ranked.groupby("attack") if set(grp.dataset) == set(PAPER_CORPORA)}
    for a in t.get("ranks") or {}:
        for d in t["columns"]:
            if a == "total_score":  # comparable only when every attack of the paper's table is in the run
                if {k for k in t["ranks"] if k != "total_score"} <= full:
                    out.append(_cell(no, a, d, float(ranked.loc[ranked.dataset == d, "rank"].sum()), "rank"))
            elif a in full:  # a rank among fewer datasets is another quantity
                out.append(_cell(no, a, d, float(ranked.loc[(ranked.attack == a) & (ranked.dataset == d),
                                                            "rank"].iloc[0]), "rank"))
    return out


def _gender(no: str, t: dict, run: _Run) -> list[dict]:
    out = []
    for a in t["rows"]:
        for col in t["columns"]:
            d, g = col.split("/")
            ours = run.clean(d, g) if a == "original" else _val(run.best_row(a, d), _metric_col(t["metric"], g))
            out.append(_cell(no, a, col, ours))
    return out


def _features(run: _Run) -> pd.DataFrame:
    f = run.data.frame("features")
    return f if f.empty else f.drop_duplicates(["dataset", "path"])


def _corpus_durations(no: str, t: dict, run: _Run) -> list[dict]:
    f = _features(run)
    out = []
    for d in t["columns"]:
        dur = f.loc[f.dataset == d, "duration_s"] if not f.empty else pd.Series(dtype=float)
        if dur.empty:
            continue
        stats = {"mean": dur.mean(), "std": dur.std(ddof=1), "min": dur.min(), "p25": dur.quantile(0.25),
                 "p50": dur.median(), "p75": dur.quantile(0.75), "max": dur.max()}
        out += [_cell(no, k, d, float(stats[k])) for k in t["rows"] if k in stats]
    return out


def _corpus_emotions(no: str, t: dict, run: _Run) -> list[dict]:
    f = _features(run)
    out = []
    for d in t["columns"]:
        sub = f[f.dataset == d] if not f.empty else f
        if sub.empty:
            continue
        counts = sub.emotion.value_counts()
        out += [_cell(no, label, d, float(counts.get(EMOTION.get(label, label), 0))) for label in t["rows"]]
    return out


def _corpus_segments(no: str, t: dict, run: _Run) -> list[dict]:
    f = _features(run)
    out = []
    for d in t["rows"]:
        kept = f[(f.dataset == d) & f.kept.astype(bool)] if not f.empty else f
        if kept.empty:
            continue
        files, segs = len(kept), float(kept.n_segments.sum())
        out += [_cell(no, d, "files", float(files)), _cell(no, d, "segments", segs),
                _cell(no, d, "factor", segs / files)]
    return out


def _study_rows(run: _Run, stage: str) -> pd.DataFrame:
    rows = paper_setup(run.data.frame(stage))
    return rows[rows.width.astype(float) == 1.0] if not rows.empty and "width" in rows else rows


def _arch_params(no: str, t: dict, run: _Run) -> list[dict]:
    rows = _study_rows(run, "arch_study")  # parameter counts only mean something at the paper's width
    if rows.empty or "n_params" not in rows:
        return []
    return [_cell(no, a, "n_params", float(rows.loc[rows.arch == a, "n_params"].iloc[0]))
            for a in t["rows"] if (rows.arch == a).any()]


def _lstm_units(no: str, t: dict, run: _Run) -> list[dict]:
    tune = paper_setup(tune_rows(run.data))
    if tune.empty or "lstm_units" not in tune:
        return []
    one = tune[(tune.tune_stage == 1) & tune.score.notna()]
    return [_cell(no, u, d, float(one.loc[(one.dataset == d) & (one.lstm_units == int(u)), "score"].mean()))
            for u in t["rows"] for d in t["columns"]]


def _model_compare(no: str, t: dict, run: _Run) -> list[dict]:
    """Table 19: M1 (arch study) vs the final model before tuning; Table 21: before vs after tuning. 'Tuned' is a
    final model trained with the paper's Table 20 values, 'base' any other final model of the run."""
    final = run.train.assign(_m=run.train.apply(tuned_label, axis=1)) if not run.train.empty else run.train
    m1 = _study_rows(run, "arch_study")
    m1 = m1[m1.arch == "m1"] if not m1.empty else m1
    out = []
    for key in t["rows"]:
        model, metric = key.split("/")
        src = m1 if model == "m1" else (final[final._m == ("final_base" if model == "final" else model)]
                                        if not final.empty else final)
        for d in t["columns"]:
            sub = src[src.dataset == d] if not src.empty else src
            if len(sub) and metric in sub:
                out.append(_cell(no, key, d, float(sub[metric].mean())))
    return out


def _tuned(no: str, t: dict, run: _Run) -> list[dict]:
    table = table_tuned(run.data)
    picks = paper_setup(table.data) if table is not None else pd.DataFrame()
    return [_cell(no, k, d, float(picks.loc[picks.dataset == d, k].astype(float).mean()))
            for k in t["rows"] for d in t["columns"] if not picks.empty and k in picks and (picks.dataset == d).any()]


def _composition(no: str, t: dict, run: _Run) -> list[dict]:
    cols = {"total": "n_test", "male": "n_test_male", "female": "n_test_female"}
    out = []
    for d in t["rows"]:
        sub = run.train[run.train.dataset == d] if not run.train.empty else run.train
        out += [_cell(no, d, c, float(sub[cols[c]].mean())) for c in t["columns"] if len(sub) and cols[c] in sub]
    return out


OURS: dict[str, Callable[[str, dict, _Run], list[dict]]] = {
    "clean": _clean, "best": _best, "sweep": _sweep, "best_by_dataset": _best_by_dataset, "rank": _rank,
    "gender": _gender, "corpus_durations": _corpus_durations, "corpus_emotions": _corpus_emotions,
    "corpus_segments": _corpus_segments, "arch_params": _arch_params, "lstm_units": _lstm_units,
    "model_compare": _model_compare, "tuned": _tuned, "composition": _composition}


def compared_cells(data: RunData, s: Summary) -> pd.DataFrame:
    """Every printed cell with the reproduced value where the run has it: KEYS, paper, ours, delta."""
    run = _Run(data, s)
    ours = pd.DataFrame([c for no, t in paper_results()["tables"].items() for c in OURS[t["kind"]](str(no), t, run)])
    cells = paper_cells().rename(columns={"value": "paper"})
    if ours.empty:
        return cells.assign(ours=math.nan, delta=math.nan)
    merged = cells.merge(ours.dropna(subset=["ours"]), on=KEYS, how="left")
    return merged.assign(delta=merged.ours - merged.paper)
