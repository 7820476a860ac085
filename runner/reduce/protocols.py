"""X06 "the paper's leak, measured twice": clean accuracy (and accuracy under each attack's best configuration)
under the paper's leaky protocol beside the two leak-free ones, `clean` (grouped by recording) and `speaker`
(held-out speakers), with the leak = paper - leak-free and its bootstrap CI (runner.reduce.claims.conditions gives the
per-sample outcomes; seeds are strata)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sercore import vocab
from sercore.stats import gap_ci, mean_ci
from sercore.vocab import PROTOCOLS

from . import aggregate as agg
from .cells import fmt_ci
from .claims import CLEAN, by_seed, conditions, paired
from .render import Table
from .summary import Summary


def _by_condition(s: Summary) -> dict[tuple[str, str], dict[str, pd.DataFrame]]:
    """(condition, dataset) -> protocol -> its rows; of the labels / estimator variants, the paper's setting only."""
    by_cond: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for variant, cond, rows, _ in conditions(s):
        if set(variant) - {"protocol"}:  # labels / estimator variants: the paper's setting only
            if any(str(variant.get(k)) != v for k, v in agg.PAPER_SETTING.items()):
                continue
        for d, grp in rows.groupby("dataset"):
            by_cond.setdefault((cond, str(d)), {})[str(variant["protocol"])] = grp
    return by_cond


def _leak_row(s: Summary, cond: str, d: str, protos: dict[str, pd.DataFrame]) -> tuple[dict, dict]:
    """One (condition, dataset): its display cells and its numbers."""
    rec: dict[str, Any] = {"condition": "clean" if cond == CLEAN else vocab.ATTACK_DISPLAY.get(cond, cond),
                           "dataset": vocab.CORPUS_DISPLAY.get(d, d)}
    row: dict[str, Any] = {"condition": cond, "dataset": d}
    for p in PROTOCOLS:
        if p not in protos:
            rec[p] = "–"
            continue
        est, lo, hi = mean_ci(list(by_seed(protos[p], "correct").values()), s.stats)
        rec[p] = fmt_ci(est, lo, hi, None, ".3f")
        row |= {f"{p}_mean": est, f"{p}_lo": lo, f"{p}_hi": hi, f"{p}_n": len(protos[p])}
    for p in PROTOCOLS[1:]:
        if p not in protos:
            rec[f"leak vs {p}"] = "–"
            continue
        eff, lo, hi = gap_ci(*paired(by_seed(protos["paper"], "correct"), by_seed(protos[p], "correct")), s.stats)
        rec[f"leak vs {p}"] = fmt_ci(eff, lo, hi, None, "+.3f")
        row |= {f"leak_{p}": eff, f"leak_{p}_lo": lo, f"leak_{p}_hi": hi}
    return rec, row


def table_leak(s: Summary) -> Table | None:
    """Rows (condition, dataset); per protocol the accuracy [CI]; per leak-free protocol the leak [CI]."""
    if "protocol" not in s.variants:
        return None
    display, data = [], []
    for (cond, d), protos in sorted(_by_condition(s).items(),
                                    key=lambda kv: (kv[0][0] != CLEAN, vocab.attack_rank(kv[0][0]),
                                                    vocab.corpus_rank(kv[0][1]))):
        if "paper" not in protos or len(protos) < 2:
            continue
        rec, row = _leak_row(s, cond, d, protos)
        display.append(rec)
        data.append(row)
    if not display:
        return None
    frame = pd.DataFrame(display)
    frame.attrs["labels"] = 2
    return Table("X06_leak_measured_twice", "The paper's leak, measured twice: paper vs clean vs speaker protocol",
                 frame, pd.DataFrame(data),
                 ["paper: segments split at random (augmented copies and sibling chunks of a recording on both sides, "
                  "scaler fitted on everything); clean: grouped by recording; speaker: held-out speakers, as many "
                  "male as female; both leak-free protocols augment and fit the scaler on train only.",
                  "Accuracy: mean over seeds [95 % CI over test samples]; leak = paper − leak-free protocol [CI]. "
                  "Under attack: each protocol's own best configuration, attacks on predicted labels."])

