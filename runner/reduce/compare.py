"""When a run holds both protocols: how much the paper's leaky protocol inflates results over the leak-free one.

The paper's published numbers against the reproduced ones are in runner/reduce/paper_compare.py.
"""

from __future__ import annotations

import pandas as pd

from sercore import vocab

from .cells import ACC, PERT, fmt_delta, fmt_value, label_frame
from .render import Table
from .summary import Summary


def _clean_accuracy(s: Summary) -> Table:
    """X03: per dataset, clean accuracy (all / male / female) under the paper and the clean protocol."""
    rows = []
    for d in sorted(s.train.dataset.unique(), key=vocab.corpus_rank):
        rec: dict[str, str] = {"dataset": vocab.CORPUS_DISPLAY.get(d, d)}
        for col, g in (("accuracy", "all"), ("accuracy_male", "male"), ("accuracy_female", "female")):
            p = s.train[(s.train.dataset == d) & (s.train.protocol == "paper")][col].mean()
            c = s.train[(s.train.dataset == d) & (s.train.protocol == "clean")][col].mean()
            rec.update({f"{g} paper": fmt_value(p, ACC), f"{g} clean": fmt_value(c, ACC),
                        f"{g} inflation": fmt_delta(p, c, ACC)})
        rows.append(rec)
    return Table("X03_protocol_clean_accuracy", "Paper vs leak-free protocol: clean accuracy",
                 label_frame(rows, 1), pd.DataFrame(rows), ["inflation = paper protocol − clean protocol."])


def _attacks(best: pd.DataFrame) -> Table | None:
    """X05: per attack and dataset, each protocol's best configuration under attack (None without a pair)."""
    rows = []
    groups = best.groupby(["attack", "dataset"])
    for (attack, d), grp in sorted(groups, key=lambda kv: (vocab.attack_rank(str(kv[0][0])),
                                                           vocab.corpus_rank(str(kv[0][1])))):
        attack, d = str(attack), str(d)
        paper, clean = grp[grp.protocol == "paper"], grp[grp.protocol == "clean"]
        if paper.empty or clean.empty:
            continue
        p, c = paper.iloc[0], clean.iloc[0]
        rows.append({"attack": vocab.ATTACK_DISPLAY.get(attack, attack), "dataset": vocab.CORPUS_DISPLAY.get(d, d),
                     "accuracy paper": fmt_value(p.accuracy_mean, ACC),
                     "accuracy clean": fmt_value(c.accuracy_mean, ACC),
                     "accuracy Δ": fmt_delta(p.accuracy_mean, c.accuracy_mean, ACC),
                     "success paper": fmt_value(p.success_rate_mean, ACC),
                     "success clean": fmt_value(c.success_rate_mean, ACC),
                     "perturbation paper": fmt_value(p.perturbation_mean, PERT[0]),
                     "perturbation clean": fmt_value(c.perturbation_mean, PERT[0])})
    if not rows:
        return None
    return Table("X05_protocol_attacks", "Paper vs leak-free protocol: best configuration under attack",
                 label_frame(rows, 2), pd.DataFrame(rows),
                 ["Δ = paper protocol − clean protocol; each protocol's own best configuration."])


def protocol_tables(s: Summary) -> list[Table]:
    """Paper (leaky) vs clean protocol: clean accuracy and the best configuration's attack numbers."""
    protos = set(s.train.protocol.astype(str)) if "protocol" in s.train else set()
    protos |= set(s.best.protocol.astype(str)) if "protocol" in s.best else set()
    if not {"paper", "clean"} <= protos:
        return []
    out = []
    if "protocol" in s.train and set(s.train.protocol) >= {"paper", "clean"}:
        out.append(_clean_accuracy(s))
    best = s.best[s.best.labels.astype(str) == "predicted"] if "labels" in s.best else s.best
    if not best.empty and set(best.protocol) >= {"paper", "clean"}:
        attacks = _attacks(best)
        out += [attacks] if attacks is not None else []
    return out
