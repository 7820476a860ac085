"""The report's first screen: what was run (meta line), what to distrust (banners), and one headline row per
attack (best configuration, accuracy under attack with its CI and unit, change from clean, success rate,
perturbation with its unit, seconds per sample, the paper's value and whether it lies inside our CI), the
worst-case row, and which of the paper's cells fall inside our intervals.

Everything here is read from the same Summary the tables use, so the first screen and the tables cannot disagree.
The headline shows one setting: the paper's protocol and predicted labels when the run has them (the paper's
setup), else the first variant; the heading names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.specs import AttackJob

from . import aggregate as agg
from . import byo_notes
from .attack_checks import UNBOUNDED_MAX, unbounded_results
from .cells import fmt_interval, fmt_num
from .paper_compare import compared_cells, paper_results
from .render import Table
from .robustness import ALL, worst_case
from .rundata import RunData
from .summary import Summary
from .uncertainty import UNIT_SHORT

PAPER_TITLE = "A systematic evaluation of adversarial attacks against speech emotion recognition models"
PROTOCOL_DISPLAY = {"paper": "paper split (leaky)", "clean": "clean split (by recording)",
                    "speaker": "speaker-independent split"}
PERTURBATION_UNIT = "mean |Δx| per cell, standardised log-Mel (z)"


@dataclass
class Banner:
    """A warning shown above the headline: synthetic data, a `limit`, missing jobs."""

    kind: str  # synthetic | limited | masked | incomplete
    title: str
    text: str


@dataclass
class Headline:
    """The first screen's table: `rows` (dicts of display text), `columns` (their order), the setting shown."""

    setting: str
    columns: list[str]
    rows: list[dict[str, str]]
    worst: list[dict[str, str]] = field(default_factory=list)
    points: pd.DataFrame = field(default_factory=pd.DataFrame)  # numbers behind the dot plot
    summary: str = ""


def primary(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the headline's setting: protocol `paper`, labels `predicted` and the `softmax` head (the
    paper's) when present, else the first value; the first estimator."""
    if df.empty:
        return df
    for col, want in (("protocol", "paper"), ("labels", "predicted"), ("model_output", "softmax"),
                      ("estimator", None)):
        if col in df and df[col].notna().any():
            vals = list(df[col].dropna().astype(str).unique())
            pick = want if want in vals else sorted(vals)[0]
            df = df[df[col].astype(str) == pick]
    return df


def setting_text(df: pd.DataFrame) -> str:
    parts = []
    if "protocol" in df and len(df):
        p = str(df.protocol.iloc[0])
        parts.append(PROTOCOL_DISPLAY.get(p, p))
    if "labels" in df and len(df):
        parts.append(f"attacks on {df.labels.iloc[0]} labels")
    if "model_output" in df and len(df) and str(df.model_output.iloc[0]) == "logits":
        parts.append("logits head")
    return ", ".join(parts)


def _corpora(s: Summary) -> list[str]:
    names = set(s.train.dataset.astype(str)) if "dataset" in s.train else set()
    names |= set(s.best.dataset.astype(str)) if "dataset" in s.best else set()
    return sorted(names, key=vocab.corpus_rank)


def _corpus_text(data: RunData, name: str) -> str:
    feats = data.frame("features")
    label = vocab.CORPUS_DISPLAY.get(name, name)
    if feats.empty or "dataset" not in feats:
        return label
    sub = feats[feats.dataset == name]
    if "kept" in sub:
        sub = sub[sub.kept.astype(bool)]
    facts = [f"{sub.path.nunique()} files" if "path" in sub else "",
             f"{sub.speaker.nunique()} speakers" if "speaker" in sub else ""]
    facts = [f for f in facts if f]
    return f"{label} ({', '.join(facts)})" if facts and len(sub) else label


def attack_limits(data: RunData) -> list[int]:
    """The `limit`s of the run's attack jobs (empty when every job attacked the whole test set)."""
    res = data.stages.get("attack")
    return sorted({j.spec.limit for j in (res.plan if res else []) if isinstance(j.spec, AttackJob) and j.spec.limit})


def _seeds(s: Summary) -> int:
    return int(s.train.seed.nunique()) if "seed" in s.train and len(s.train) else \
        (int(s.attack_seeds.seed.nunique()) if "seed" in s.attack_seeds and len(s.attack_seeds) else 0)


def meta_items(data: RunData, s: Summary, prov: dict[str, Any]) -> list[str]:
    """The meta line after the paper's title: corpora, protocols, seeds, samples attacked, jobs ok, code version,
    reduce date."""
    items: list[str] = []
    corpora = _corpora(s)
    if corpora:
        items.append("corpus: " + ", ".join(_corpus_text(data, c) for c in corpora))
    protocols = sorted({str(p) for df in (s.train, s.best) if "protocol" in df for p in df.protocol.dropna()})
    if protocols:
        items.append("protocol: " + ", ".join(PROTOCOL_DISPLAY.get(p, p) for p in protocols))
    n_seeds = _seeds(s)
    items.append(f"{n_seeds} seed{'s' if n_seeds != 1 else ''}")
    if "n_mean" in s.best and len(s.best):
        n = int(round(float(s.best.n_mean.max())))
        items.append(f"{n} attacked test samples" + (" (limit)" if attack_limits(data) else ""))
    status = data.status
    if not status.empty:
        planned = status[status.status != "unplanned"]
        items.append(f"{int((planned.status == 'ok').sum())}/{len(planned)} jobs ok")
    items += byo_notes.meta_items(s.train)
    commit = prov.get("git_commit")
    items.append(f"git {commit[:8]}" if commit else "code version unknown")
    if prov.get("reduced_at"):
        items.append("reduced " + str(prov["reduced_at"]).replace("T", " ")[:16] + " UTC")
    return items


def banners(data: RunData, s: Summary, compared: tuple[int, int]) -> list[Banner]:
    """Why the numbers may not be a reproduction: synthetic corpora, attacked subsets, missing jobs."""
    out: list[Banner] = []
    corpora = _corpora(s)
    foreign = [c for c in corpora if c not in vocab.PAPER_CORPORA]
    done, total = compared
    if foreign:
        names = ", ".join(vocab.CORPUS_DISPLAY.get(c, c) for c in foreign)
        out.append(Banner("synthetic", "Not the paper's corpora.",
                          f"{names}: numbers are a smoke test, not a reproduction. {done} of the paper's {total} "
                          "numbers are comparable (needs EmoDB, EMOVO or RAVDESS: see grids/emodb-cpu.yaml)."))
    limits = attack_limits(data)
    if limits:
        test = int(s.train.n_test.max()) if "n_test" in s.train and len(s.train) else None
        of = f" of {test} test samples" if test else ""
        out.append(Banner("limited", "Attacked a subset.",
                          f"Each attack ran on the first {', '.join(map(str, limits))}{of} (grid key "
                          "attack.limit): intervals are wide, and times are for those samples, not the test set."))
    out += masked_banner(data)
    status = data.status
    bad = status[~status.status.isin(["ok", "unplanned"])] if not status.empty else status
    if len(bad):
        counts = ", ".join(f"{n} {k}" for k, n in bad.status.value_counts().items())
        out.append(Banner("incomplete", "Incomplete run.",
                          f"{len(bad)} of {len(status)} jobs are not ok ({counts}); cells resting on them carry "
                          "a dagger (†). See Completeness at the end."))
    return out


def masked_banner(data: RunData) -> list[Banner]:
    """A failed unbounded check (runner.reduce.attack_checks) on some model: its gradient attacks' numbers may
    overstate robustness, which a reader of the first screen should know before the numbers."""
    found = unbounded_results(agg.keyed_attack_rows(data.check_frame()))
    bad = found[found.flagged.astype(bool)] if not found.empty else found
    if bad.empty:
        return []
    return [Banner("masked", "Gradients may be masked.",
                   f"The unbounded attack check left robust accuracy {bad.robust_accuracy.min():.3f} to "
                   f"{bad.robust_accuracy.max():.3f} (near zero means <= {UNBOUNDED_MAX:g}) on {len(bad)} of "
                   f"{len(found)} model(s): gradient attacks on them may overstate robustness (R03).")]


def paper_value(attack: str, dataset: str) -> float | None:
    """The paper's accuracy under the attack's best configuration: Table 5 (one C&W row; its L2 and L∞ columns
    from Table 36), or None when the paper has no such cell."""
    tables = paper_results()["tables"]
    if attack in ("cw_l2", "cw_linf"):
        t36 = tables["36"]
        row = t36["rows"].get(f"{dataset}/all")
        return None if row is None else row[t36["columns"].index(attack)]
    row = tables["5"]["rows"].get(f"{attack}/{dataset}")
    return None if row is None else row[tables["5"]["columns"].index("all")]


def _inside(paper: float | None, lo: Any, hi: Any) -> str:
    if paper is None or lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return "–"
    return "yes" if lo - 1e-12 <= paper <= hi + 1e-12 else "no"


def _unit(r: pd.Series) -> str:
    n = r.get("accuracy_n_eff")
    unit = str(r.get("ci_unit") or "segment")
    return f"{n:.0f} {UNIT_SHORT.get(unit, unit)}" if n is not None and not pd.isna(n) else "–"


def unchanged_samples(rows: pd.DataFrame, r: pd.Series) -> int:
    """Attacked samples of a configuration the attack returned unchanged (perturbation 0: e.g. BoundaryAttack
    found no adversarial starting point), summed over seeds."""
    if rows.empty or "perturbation" not in rows:
        return 0
    keys = [k for k in agg.ATTACK_KEYS if k in rows and k in r]
    mask = np.logical_and.reduce([rows[k].astype(str) == str(r[k]) for k in keys])
    return int((rows.loc[mask, "perturbation"] == 0).sum())


def anomalies(r: pd.Series, unchanged: int = 0) -> list[str]:
    """Flags beside a headline row: numbers a reader should not take at face value."""
    flags = []
    if r.get("success_rate_mean") == 0:
        flags.append("fooled no sample")
    elif unchanged:
        flags.append(f"{unchanged} unchanged")
    clean = r.get("clean_accuracy_mean")
    if clean is not None and not pd.isna(clean) and r.accuracy_mean > clean + 1e-12:
        flags.append("above clean")
    if str(r.get("estimator")) == "stock":
        flags.append("stock estimator")
    return flags


ROBUST = "robust accuracy [95 % CI]"
PAPER_METRIC = "paper metric [95 % CI]"


def with_robust(configs: pd.DataFrame, s: Summary) -> pd.DataFrame:
    """configs with each configuration's robust accuracy and recording-level CI (right before and under the attack;
    RobustBench), all genders: Summary.robust in the headline's setting (`primary`)."""
    rob = primary(s.robust)
    keys = [k for k in agg.ATTACK_KEYS if k in rob and k in configs]
    if rob.empty or not keys:
        return configs
    rob = rob[rob.gender == "all"][[*keys, "robust_accuracy", "robust_accuracy_lo", "robust_accuracy_hi"]]
    as_text = {k: "str" for k in keys}
    merged = configs.astype(as_text).merge(rob.astype(as_text), on=keys, how="left")
    return configs.assign(**{c: merged[c].to_numpy() for c in ("robust_accuracy", "robust_accuracy_lo",
                                                                "robust_accuracy_hi")})


def _has_robust(r: pd.Series) -> bool:
    return not pd.isna(r.get("robust_accuracy", math.nan))


def _row(r: pd.Series, s: Summary, several: bool) -> dict[str, str]:
    swept = agg.swept_params(s.attack_configs[s.attack_configs.attack == r.attack].params)
    paper = paper_value(str(r.attack), str(r.dataset)) if r.dataset in vocab.PAPER_CORPORA else None
    clean = r.get("clean_accuracy_mean")
    n = r.get("n_mean")
    rec = {"corpus": vocab.CORPUS_DISPLAY.get(r.dataset, r.dataset)} if several else {}
    rec.update({
        "attack": vocab.ATTACK_DISPLAY.get(r.attack, r.attack),
        "best configuration": agg.params_label(r.params, swept) if swept else "(one setting)",
        ROBUST: fmt_interval(r.robust_accuracy, r.robust_accuracy_lo, r.robust_accuracy_hi) if _has_robust(r)
        else "–",
        "CI over": _unit(r),
        "Δ vs clean": "–" if clean is None or pd.isna(clean) or not _has_robust(r) else
                      f"{r.robust_accuracy - clean:+.3f}",
        PAPER_METRIC: fmt_interval(r.accuracy_mean, r.get("accuracy_lo"), r.get("accuracy_hi")),
        "success": "–" if pd.isna(r.get("success_rate_mean")) else f"{100 * r.success_rate_mean:.0f} %",
        "perturbation (z)": fmt_num(r.get("perturbation_mean")),
        "s / sample": fmt_num(r.time_s_mean / n) if n and not pd.isna(r.get("time_s_mean")) else "–",
        "paper": fmt_num(paper) if paper is not None else ("n/a" if r.dataset not in vocab.PAPER_CORPORA else "–"),
        "paper in CI": _inside(paper, r.get("accuracy_lo"), r.get("accuracy_hi")),
        "flags": "; ".join(anomalies(r, unchanged_samples(s.attack_rows, r))),
    })
    return rec


def _worst_unit(w: pd.Series) -> str:
    """The worst case's effective n: its CI resamples recordings (R01), so it counts them, not segments."""
    n = w.get("n_eff")
    if n is None or pd.isna(n):
        return f"{w.n:.0f} seg."
    unit = str(w.get("ci_unit") or "recording")
    return f"{n:.0f} {UNIT_SHORT.get(unit, unit)}"


def _worst_rows(s: Summary, several: bool) -> tuple[list[dict[str, str]], list[dict]]:
    """The 'any attack' row per corpus: robust accuracy over every configuration of every attack (R01's last
    column: right before the attacks and under each), and its numbers for the dot plot."""
    rows = primary(s.attack_rows) if not s.attack_rows.empty else s.attack_rows
    wc = worst_case(rows, s.variants, s.stats) if not rows.empty else pd.DataFrame()
    if wc.empty:
        return [], []
    wc = wc[(wc.scope == ALL) & (wc.gender == "all")]
    shown, points = [], []
    for _, w in wc.sort_values("dataset", key=lambda c: c.map(vocab.corpus_rank)).iterrows():
        rec = {"corpus": vocab.CORPUS_DISPLAY.get(w.dataset, w.dataset)} if several else {}
        rec.update({"attack": "worst case (any attack)", "best configuration": "all configurations (R01)",
                    ROBUST: fmt_interval(w.robust_mean, w.robust_lo, w.robust_hi),
                    "CI over": _worst_unit(w), "Δ vs clean": f"{w.robust_mean - w.clean_mean:+.3f}"})
        shown.append(rec)
        points.append({"dataset": w.dataset, "label": "worst case", "mean": w.robust_mean, "lo": w.robust_lo,
                       "hi": w.robust_hi, "clean": w.clean_mean, "paper": math.nan})
    return shown, points


def _point(r: pd.Series) -> dict[str, Any]:
    """The dot plot's numbers for one row: robust accuracy and its CI; our paper-metric value beside the paper's."""
    mean, lo, hi = (r.get(c, math.nan) for c in ("robust_accuracy", "robust_accuracy_lo", "robust_accuracy_hi"))
    return {"dataset": r.dataset, "label": vocab.ATTACK_DISPLAY.get(r.attack, r.attack), "mean": mean, "lo": lo,
            "hi": hi, "clean": r.get("clean_accuracy_mean", math.nan), "paper_metric": r.accuracy_mean,
            "paper": paper_value(str(r.attack), str(r.dataset)) or math.nan}


def build_headline(data: RunData, s: Summary) -> Headline | None:
    """One row per attack (and corpus) of the headline setting, then the worst-case row(s)."""
    best = primary(s.best)
    if best.empty:
        return None
    several = best.dataset.nunique() > 1
    best = best.assign(_d=best.dataset.map(vocab.corpus_rank), _a=best.attack.map(vocab.attack_rank))
    best = best.sort_values(["_d", "_a"])
    best = with_robust(best, s)
    rows = [_row(r, s, several) for _, r in best.iterrows()]
    points = [_point(r) for _, r in best.iterrows()]
    worst, wpoints = _worst_rows(s, several)
    unused = {"flags"} if not any(r["flags"] for r in rows) else set()
    setting = setting_text(best)
    if all(r["paper"] == "n/a" for r in rows):  # nothing to compare: say it once instead of a column of n/a
        unused |= {"paper", "paper in CI"}
        setting += " · paper values: none comparable (not the paper's corpora)"
    columns = [c for c in rows[0] if c not in unused]
    return Headline(setting, columns, rows, worst, pd.DataFrame(points + wpoints), _summary(best, points))


def _summary(best: pd.DataFrame, points: list[dict[str, Any]]) -> str:
    """One sentence on robust accuracy (the headline's number): strongest and weakest attack, and how wide the
    intervals are."""
    pts = pd.DataFrame(points).dropna(subset=["mean"])
    if pts.empty:
        return ""
    lowest, highest = pts["mean"].min(), pts["mean"].max()
    names = lambda v: " / ".join(pts[pts["mean"] == v].label.drop_duplicates())  # noqa: E731
    text = (f"Robust accuracy: strongest {names(lowest)} ({fmt_num(lowest)}), weakest {names(highest)} "
            f"({fmt_num(highest)}).")
    if pts.lo.notna().any():
        width = float((pts.hi - pts.lo).median())
        n = f", n = {best.accuracy_n_eff.min():.0f} recordings" if "accuracy_n_eff" in best and \
            best.accuracy_n_eff.notna().any() else ""
        text += f" Median 95 % CI width: {fmt_num(width)} of accuracy{n}."
    return text


# ---------------------------------------------------------------- the paper's cells against our intervals

def _cell_config(c: pd.Series, t: dict, configs: pd.DataFrame) -> pd.Series | None:
    """The configuration a compared cell was read from (the cell's dataset, attack and params)."""
    if not isinstance(c.get("params"), str):
        return None
    if t["kind"] == "best":
        dataset = str(c.row).split("/")[1]
        attacks = {str(c.get("source_attack"))}
    else:
        dataset = str(c.row).split("/")[0]
        attacks = {str(t.get("attack")), str(c.column)}
    hit = configs[(configs.dataset == dataset) & configs.attack.isin(attacks)
                  & (configs.params == agg.canonical_params(c.params))]
    return hit.iloc[0] if len(hit) else None


def cells_with_ci(data: RunData, s: Summary) -> pd.DataFrame:
    """The compared paper cells of accuracy and perturbation (Tables 5, 6 and the sweeps) with our CI:
    table, row, column, metric, paper, ours, lo, hi, inside."""
    cells = compared_cells(data, s)
    done = cells.dropna(subset=["ours"]) if "ours" in cells else cells
    configs = primary(s.attack_configs)
    tables = paper_results()["tables"]
    out = []
    for _, c in done.iterrows():
        t = tables[str(c.table)]
        if t["kind"] not in ("best", "sweep") or c.what != "value":
            continue
        metric = str(c.column) if t.get("param") == "metric" else t.get("metric", "")
        gender = str(c.column) if t["kind"] == "best" else (str(c.row).split("/") + ["all"])[1]
        col = f"{metric}{'' if gender == 'all' else '_' + gender}"
        r = _cell_config(c, t, configs)
        if r is None or f"{col}_lo" not in r or pd.isna(r[f"{col}_lo"]):
            continue
        lo, hi = float(r[f"{col}_lo"]), float(r[f"{col}_hi"])
        out.append({"table": str(c.table), "row": c.row, "column": c.column, "metric": metric,
                    "paper": float(c.paper), "ours": float(c.ours), "lo": lo, "hi": hi,
                    "inside": bool(lo - 1e-12 <= c.paper <= hi + 1e-12)})
    return pd.DataFrame(out, columns=["table", "row", "column", "metric", "paper", "ours", "lo", "hi", "inside"])


def table_inside_ci(cells: pd.DataFrame) -> Table | None:
    """PCI: per paper table, how many of its compared cells (with an interval) lie inside our 95 % CI."""
    if cells.empty:
        return None
    tables = paper_results()["tables"]
    rows, data = [], []
    for no, grp in sorted(cells.groupby("table"), key=lambda kv: int(str(kv[0]).split("-")[0])):
        n, inside = len(grp), int(grp.inside.sum())
        rows.append({"paper table": str(no), "title": tables[str(no)]["title"], "cells with a CI": n,
                     "inside our CI": inside, "share": f"{inside / n:.3f}"})
        data.append({"table": str(no), "cells": n, "inside": inside})
    display = pd.DataFrame(rows)
    display.attrs["labels"] = 2
    total, inside = len(cells), int(cells.inside.sum())
    return Table("PCI_paper_inside_ci", "Paper vs reproduced: the paper's cells inside our 95 % CI, per table",
                 display, pd.DataFrame(data),
                 [f"{inside} of {total} compared cells with an interval lie inside our CI (accuracy and perturbation "
                  "cells of Tables 5, 6 and the sweeps; the interval of the configuration each was read from).",
                  "Outside is not proof of a difference: the CIs cover test-set sampling only, not training "
                  "randomness (see ± std over seeds), hardware or settings this run fixed differently."])
