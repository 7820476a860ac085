"""Transfer matrices: accuracy of each target model on the adversarial inputs crafted on each source model.

Per (dataset, attack): rows = source models (the attacked final models), columns = target models (final models
of other seeds and protocols, the study models); the configuration is each source's best one (T4's rule), so
the diagonal is the attack's own accuracy, replayed from the stored float16 deltas (the replay agreement, share
of samples whose prediction matches the attack job's, checks that storage). Table TR01 and one heatmap per attack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.stats import StatsSettings, mean_ci

from . import aggregate as agg
from .render import Table

KEYS = ["dataset", "attack", "source", "target"]


def model_label(study: str, arch: str, protocol: str, seed: object, normalization: str = "original",
                standardize: object = True) -> str:
    """'final paper s0', 'arch m1 clean s0', 'norm m0 unstd paper s1'."""
    what = "final" if study == "final" else f"{study} {arch}"
    if normalization != "original":
        what += f" {normalization}"
    if str(standardize) in ("False", "false", "0"):
        what += " unstd"
    return f"{what} {protocol} s{seed}"


def _labels(rows: pd.DataFrame, prefix: str) -> pd.Series:
    cols = [f"{prefix}_{c}" for c in ("study", "arch", "protocol", "seed", "normalization", "standardize")]
    return rows[cols].apply(lambda r: model_label(*r.tolist()), axis=1)


def transfer_summary(rows: pd.DataFrame, best: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """Per (dataset, attack, source, target): accuracy under the transferred attack [CI], the target's clean
    accuracy on the same samples, the share of samples whose recording the target trained on, replay agreement."""
    if rows.empty or best.empty:
        return pd.DataFrame()
    head = rows["source_output"].fillna("softmax") if "source_output" in rows else "softmax"  # the attacked model's
    rows = rows.assign(params=rows.params.map(agg.canonical_params), protocol=rows.source_protocol,
                       model_output=head)
    pick = best[agg.ATTACK_KEYS].astype(str).agg("|".join, axis=1)
    rows = rows[rows[agg.ATTACK_KEYS].astype(str).agg("|".join, axis=1).isin(set(pick))]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(source=_labels(rows, "source"), target=_labels(rows, "target"),
                       correct=(rows.y_adv == rows.y_true).astype(float))
    out = []
    for key, grp in rows.groupby(KEYS, sort=False):
        est, lo, hi = mean_ci([grp.correct.to_numpy()], settings)
        out.append({**dict(zip(KEYS, key, strict=True)), "params": grp.params.iloc[0], "accuracy": est,
                    "accuracy_lo": lo, "accuracy_hi": hi, "clean_accuracy": float((grp.y_clean == grp.y_true).mean()),
                    "seen_share": float(grp.target_seen.mean()), "self": bool(grp["self"].iloc[0]),
                    "replay_agreement": float((grp.y_adv == grp.y_adv_source).mean()) if grp["self"].iloc[0]
                    else float("nan"), "n": len(grp)})
    return pd.DataFrame(out)


def table_transfer(rows: pd.DataFrame, best: pd.DataFrame, settings: StatsSettings) -> Table | None:
    """TR01: the matrices of every (dataset, attack) stacked: label columns dataset, attack, source."""
    summ = transfer_summary(rows, best, settings)
    if summ.empty:
        return None
    targets = sorted(summ.target.unique(), key=lambda t: (not t.startswith("final"), t))
    display = []
    order = summ.assign(_d=summ.dataset.map(vocab.corpus_rank), _a=summ.attack.map(vocab.attack_rank))
    for (d, attack, source), grp in order.sort_values(["_d", "_a", "source"]).groupby(
            ["dataset", "attack", "source"], sort=False):
        rec = {"dataset": vocab.CORPUS_DISPLAY.get(str(d), d), "attack": vocab.ATTACK_DISPLAY.get(str(attack), attack),
               "source": source}
        cells = grp.set_index("target")
        for t in targets:
            rec[t] = f"{cells.accuracy[t]:.3f}{'*' if cells['self'][t] else ''}" if t in cells.index else "–"
        display.append(rec)
    frame = pd.DataFrame(display)
    frame.attrs["labels"] = 3
    agree = summ[summ["self"]].replay_agreement
    seen = summ[~summ["self"]].seen_share.mean()
    return Table("TR01_transfer", "Transfer: accuracy of each target model on the adversarial examples crafted "
                 "on each source model (best configuration per source)", frame, summ.reset_index(drop=True),
                 ["Rows: the attacked (source) models; columns: target models of the same corpus, features and "
                  "normalisation; * = the source itself (its adversarial inputs replayed from float16 deltas).",
                  f"Replay agreement on the diagonal (prediction equals the attack job's): "
                  f"{agree.min():.3f}-{agree.max():.3f}." if len(agree) else "No diagonal (source not a target).",
                  f"Inputs carried between models by un-standardising with the source scaler and standardising "
                  f"with the target's (docs/attacks.md). On average {seen:.0%} of the off-diagonal samples come "
                  "from recordings the target trained on (paper protocol: the leak); the CSV has clean accuracy, "
                  "CIs and that share per cell." if not np.isnan(seen) else "Only the diagonal: one model."])


def _heatmap(ax: Any, d: str, m: pd.DataFrame) -> Any:
    """One dataset's source x target accuracy matrix, final models' columns first, each cell written in."""
    cols = sorted(m.columns, key=lambda t: (not t.startswith("final"), t))
    m = m[cols]
    im = ax.imshow(m.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(m.to_numpy()):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize="x-small",
                    color="white" if v < 0.5 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize="x-small")
    ax.set_yticks(range(len(m.index)), m.index, fontsize="x-small")
    ax.set_xlabel("target model")
    ax.set_ylabel("source model (attacked)")
    ax.set_title(vocab.CORPUS_DISPLAY.get(d, d), fontsize="small")
    return im


def transfer_figures(tables: list, folder: Path) -> list:
    """One heatmap per attack (a panel per dataset) of TR01's matrices."""
    import matplotlib.pyplot as plt

    from .media import Media
    from .media import save_figure as _save

    table = next((t for t in tables if t.name == "TR01_transfer"), None)
    if table is None:
        return []
    summ = table.data
    out = []
    for attack in sorted(summ.attack.unique(), key=vocab.attack_rank):
        sub = summ[summ.attack == attack]
        datasets = sorted(sub.dataset.unique(), key=vocab.corpus_rank)
        mats = [sub[sub.dataset == d].pivot_table(index="source", columns="target", values="accuracy")
                for d in datasets]
        width = max(m.shape[1] for m in mats)
        fig, axes = plt.subplots(1, len(datasets), figsize=(1.5 + 0.75 * width * len(datasets),
                                                           1.5 + 0.45 * max(m.shape[0] for m in mats)),
                                 squeeze=False, layout="constrained")
        for ax, d, m in zip(axes[0], datasets, mats, strict=True):
            im = _heatmap(ax, d, m)
        fig.colorbar(im, ax=axes[0].tolist(), label="accuracy on transferred inputs")
        name = vocab.ATTACK_DISPLAY.get(attack, attack)
        fig.suptitle(f"Transfer of {name} (best configuration per source)", fontsize="medium")
        out.append(Media(_save(fig, folder / f"transfer_{attack}.png"), f"Transfer heatmap, {name}: accuracy of "
                         "each target model on the adversarial inputs crafted on each source model (diagonal: "
                         "the source itself).", "figure"))
    return out
