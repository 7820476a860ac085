"""Figures that show uncertainty as the tables state it: every whisker and band is the tables' 95 % CI (over
recordings, from runner.reduce.uncertainty), never a standard deviation over seeds (zero with one seed).

- `dot_whisker`: the headline's robust accuracies with their CIs, the clean level, our paper-metric values and
  the paper's.
- `robustness_curves`: per attack, robust accuracy (and, dotted, the paper's metric) against each swept parameter
  with a CI band, the clean level and the paper's points (runner/data/paper_results.yaml's sweep tables) where the
  run has the paper's corpus.
- `accuracy_vs_perturbation`: every configuration, accuracy (with CI) against its mean perturbation.
- `confusion_figures`: per corpus, clean and under each attack's best configuration (attacked samples).
- `paper_scatter`: paper vs ours for every compared cell that has an interval, with "N of M within CI".
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sercore import vocab  # noqa: E402

from . import aggregate as agg  # noqa: E402
from .cells import attack_name, corpus_name  # noqa: E402
from .headline import PERTURBATION_UNIT, primary, with_robust  # noqa: E402
from .media import Media, save_figure  # noqa: E402
from .paper_compare import paper_results  # noqa: E402
from .summary import Summary  # noqa: E402

CI_WORDS = "95 % bootstrap CI over whole test recordings, as in the tables (not a std over seeds)"


def dot_whisker(points: pd.DataFrame, folder: Path, n_text: str) -> Media | None:
    """The headline as a picture: one dot per attack (and corpus), whiskers = its CI, dashed = clean."""
    if points.empty:
        return None
    pts = points.iloc[::-1].reset_index(drop=True)
    several = pts.dataset.nunique() > 1
    labels = [f"{p.label} ({corpus_name(p.dataset)})" if several else str(p.label) for p in pts.itertuples()]
    fig, ax = plt.subplots(figsize=(5.6, 0.9 + 0.34 * len(pts)))
    y = np.arange(len(pts))
    err = np.vstack([(pts["mean"] - pts.lo).clip(lower=0).fillna(0), (pts.hi - pts["mean"]).clip(lower=0).fillna(0)])
    ax.errorbar(pts["mean"], y, xerr=err, fmt="o", color="C3", capsize=3, label="robust accuracy (95 % CI)")
    if "paper_metric" in pts and pts.paper_metric.notna().any():
        ax.plot(pts.paper_metric, y, "o", mfc="none", color="C7", label="ours, paper metric")
    if pts.paper.notna().any():
        ax.plot(pts.paper, y, "D", mfc="none", color="C0", label="paper (paper metric)")
    for d, grp in pts.groupby("dataset", sort=False):
        clean = grp.clean.dropna()
        if len(clean):
            ax.axvline(float(clean.mean()), color="k", ls="--", lw=1,
                       label=f"clean {float(clean.mean()):.3f}" + (f" ({corpus_name(d)})" if several else ""))
    ax.set_yticks(y, labels)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"accuracy ({n_text})")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    path = save_figure(fig, folder / "headline_accuracy.png", dpi=150)
    return Media(path, "Robust accuracy (right before and under the attack) at each attack's best configuration; "
                 f"whiskers: {CI_WORDS}; dashed: clean accuracy of the attacked samples; open circles: our accuracy "
                 "in the paper's metric (a repaired sample counts as correct); diamonds: the paper's value, in its "
                 "metric.", "figure")


def _paper_sweep(attack: str, param: str, dataset: str) -> tuple[list[float], list[float]]:
    """The paper's accuracy points of one sweep (x = its swept values), empty when it has none."""
    for t in paper_results()["tables"].values():
        if t["kind"] == "sweep" and t.get("attack") == attack and t.get("param") == param \
                and t.get("metric") == "accuracy" and f"{dataset}/all" in t["rows"]:
            pairs = [(float(x), v) for x, v in zip(t["columns"], t["rows"][f"{dataset}/all"], strict=True)
                     if v is not None]
            return [p[0] for p in pairs], [float(p[1]) for p in pairs]
    return [], []


def _numeric(values: pd.Series) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _curve_panel(ax: plt.Axes, sub: pd.DataFrame, attack: str, param: str) -> bool:
    """One swept parameter: a line (and CI band) per corpus and per setting of the other swept parameters."""
    drawn = False
    others = [p for p in agg.swept_params(sub.params) if p != param]
    for j, (d, grp) in enumerate(sub.groupby("dataset", sort=False)):
        vals = grp.assign(_x=grp.params.map(lambda p: agg.param_values(p).get(param)))
        if not _numeric(vals._x):
            continue
        groups = vals.groupby(vals.params.map(lambda p: agg.params_label(p, others) if others else ""), sort=True)
        for k, (label, line) in enumerate(groups):
            line = line.sort_values("_x")
            color = f"C{(j * 3 + k) % 10}"
            name = ", ".join(x for x in (corpus_name(d), label) if x)
            _curve_line(ax, line, color, name)
            drawn = True
        clean = grp.clean_accuracy_mean.mean() if "clean_accuracy_mean" in grp else math.nan
        if not math.isnan(clean):
            ax.axhline(clean, color=f"C{(j * 3) % 10}", ls="--", lw=1, label=f"clean ({corpus_name(d)})")
        px, py = _paper_sweep(attack, param, str(d))
        if px:
            ax.plot(px, py, "D", mfc="none", color=f"C{(j * 3) % 10}", label=f"paper ({corpus_name(d)})")
    ax.set(xlabel=param, ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    return drawn


def _curve_line(ax: plt.Axes, line: pd.DataFrame, color: str, name: str) -> None:
    """Robust accuracy with its CI band (solid), and the paper's metric (dotted, no band) to set beside the paper's
    points; runs without robust columns draw the paper's metric alone, with its band."""
    x = line._x.astype(float)
    if "robust_accuracy" in line and line.robust_accuracy.notna().any():
        ax.plot(x, line.robust_accuracy, "o-", color=color, label=f"{name} robust" if name else "robust")
        ax.fill_between(x, line.robust_accuracy_lo, line.robust_accuracy_hi, color=color, alpha=0.2)
        ax.plot(x, line.accuracy_mean, ":", color=color, label=f"{name} paper metric" if name else "paper metric")
        return
    ax.plot(x, line.accuracy_mean, "o-", color=color, label=name)
    if "accuracy_lo" in line and line.accuracy_lo.notna().any():
        ax.fill_between(x, line.accuracy_lo, line.accuracy_hi, color=color, alpha=0.2)


def robustness_curves(s: Summary, folder: Path) -> list[Media]:
    """One figure per attack with a swept numeric parameter: accuracy against each such parameter."""
    configs = primary(s.attack_configs)
    out: list[Media] = []
    if configs.empty:
        return out
    configs = with_robust(configs, s)
    for attack in sorted(configs.attack.unique(), key=vocab.attack_rank):
        sub = configs[configs.attack == attack]
        swept = [p for p in agg.swept_params(sub.params)
                 if _numeric(pd.Series([agg.param_values(x).get(p) for x in sub.params]).dropna())]
        if not swept:
            continue
        fig, axes = plt.subplots(1, len(swept), figsize=(4.6 * len(swept), 3.4), squeeze=False)
        drawn = [_curve_panel(ax, sub, attack, p) for ax, p in zip(axes[0], swept, strict=True)]
        if not any(drawn):
            plt.close(fig)
            continue
        axes[0][-1].legend(fontsize="x-small", loc="best")
        fig.suptitle(f"{attack_name(attack)}: robust accuracy against its swept parameters")
        fig.tight_layout()
        path = save_figure(fig, folder / f"curve_{attack}.png", dpi=150)
        out.append(Media(path, f"{attack_name(attack)}: robust accuracy (right before and under the attack) "
                               f"against {', '.join(swept)}; bands: {CI_WORDS}; dotted: our accuracy in the "
                               "paper's metric (a repaired sample counts as correct); dashed: clean accuracy of the "
                               "attacked samples; diamonds: the paper's sweep, in its metric (its corpora only).",
                         "figure"))
    return out


def accuracy_vs_perturbation(s: Summary, folder: Path) -> Media | None:
    """Every configuration: accuracy under attack (CI whiskers) against its mean perturbation (log x)."""
    configs = primary(s.attack_configs)
    if configs.empty or "perturbation_mean" not in configs:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (attack, grp) in enumerate(sorted(configs.groupby("attack"), key=lambda kv: vocab.attack_rank(str(kv[0])))):
        x = grp.perturbation_mean.clip(lower=1e-6)
        lo = (grp.accuracy_mean - grp.get("accuracy_lo", grp.accuracy_mean)).clip(lower=0).fillna(0)
        hi = (grp.get("accuracy_hi", grp.accuracy_mean) - grp.accuracy_mean).clip(lower=0).fillna(0)
        ax.errorbar(x, grp.accuracy_mean, yerr=np.vstack([lo, hi]), fmt="o", capsize=2, color=f"C{i % 10}",
                    label=attack_name(attack))
    ax.set_xscale("log")
    ax.set(xlabel=f"perturbation ({PERTURBATION_UNIT})", ylabel="accuracy under attack", ylim=(-0.02, 1.02),
           title="Accuracy against perturbation, every configuration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    path = save_figure(fig, folder / "accuracy_vs_perturbation.png", dpi=150)
    return Media(path, f"Every attack configuration: accuracy under attack against mean perturbation; whiskers: "
                 f"{CI_WORDS}.", "figure")


def _matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    m = np.zeros((k, k), int)
    np.add.at(m, (y_true.astype(int), y_pred.astype(int)), 1)
    return m


def _class_names(s: Summary, dataset: str, k: int) -> list[str]:
    if "classes" in s.train:
        hit = s.train[(s.train.dataset == dataset) & s.train.classes.notna()]
        if len(hit):
            names = list(hit.classes.iloc[0])
            if len(names) >= k:
                return [str(n) for n in names]
    return [str(i) for i in range(k)]


def confusion_figures(s: Summary, folder: Path) -> list[Media]:
    """Per corpus: clean predictions of the attacked samples, then each attack's best configuration."""
    rows, best = primary(s.attack_rows), primary(s.best)
    out: list[Media] = []
    if rows.empty or best.empty:
        return out
    for d in sorted(best.dataset.unique(), key=vocab.corpus_rank):
        picks = best[best.dataset == d].sort_values("attack", key=lambda c: c.map(vocab.attack_rank))
        sub = rows[rows.dataset == d]
        k = int(max(sub.y_true.max(), sub.y_clean.max(), sub.y_adv.max())) + 1
        names = _class_names(s, d, k)[:k]
        first = sub[(sub.attack == picks.attack.iloc[0]) & (sub.params == picks.params.iloc[0])]
        panels = [("clean (attacked samples)", _matrix(first.y_true.to_numpy(), first.y_clean.to_numpy(), k))]
        for _, b in picks.iterrows():
            hit = sub[(sub.attack == b.attack) & (sub.params == b.params)]
            panels.append((attack_name(b.attack), _matrix(hit.y_true.to_numpy(), hit.y_adv.to_numpy(), k)))
        cols = min(5, len(panels))
        nrows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(2.7 * cols, 2.7 * nrows), squeeze=False)
        for ax, (title, m) in zip(axes.flat, panels, strict=False):
            ax.imshow(m, cmap="Blues", vmin=0)
            for (i, j), v in np.ndenumerate(m):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
            ax.set_title(title, fontsize="small")
            ax.set_xticks(range(k), names, rotation=60, fontsize=6)
            ax.set_yticks(range(k), names, fontsize=6)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.supxlabel("predicted", fontsize="small")
        fig.supylabel("true", fontsize="small")
        fig.suptitle(f"{corpus_name(d)}: confusion matrices, clean and under each attack's best configuration")
        fig.tight_layout()
        path = save_figure(fig, folder / f"confusion_{d}.png", dpi=150)
        out.append(Media(path, f"{corpus_name(d)}: confusion matrices (counts over the attacked samples, all "
                               "seeds): clean "
                         "predictions, then the adversarial predictions of each attack's best configuration.",
                         "figure"))
    return out


def paper_scatter(cells: pd.DataFrame, folder: Path) -> Media | None:
    """Paper (x) against ours (y, CI whiskers) for every compared cell with an interval; title: N of M in CI."""
    if cells.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2), squeeze=False)
    for ax, metric in zip(axes[0], ("accuracy", "perturbation"), strict=True):
        sub = cells[cells.metric == metric]
        if sub.empty:
            ax.axis("off")
            continue
        err = np.vstack([(sub.ours - sub.lo).clip(lower=0), (sub.hi - sub.ours).clip(lower=0)])
        colors = np.where(sub.inside, "C2", "C3")
        ax.errorbar(sub.paper, sub.ours, yerr=err, fmt="none", ecolor="0.6", lw=0.8)
        ax.scatter(sub.paper, sub.ours, c=colors, s=14, zorder=3)
        top = float(max(sub.paper.max(), sub.hi.max(), 1e-3)) * 1.05
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        ax.set(xlabel=f"paper ({metric})", ylabel=f"ours ({metric})",
               title=f"{metric}: {int(sub.inside.sum())} of {len(sub)} paper cells inside our CI")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = save_figure(fig, folder / "paper_vs_ours.png", dpi=150)
    return Media(path, f"The paper's cells (Tables 5, 6 and the sweeps) against ours; whiskers: {CI_WORDS}; green: "
                 f"the paper's value lies inside our CI ({int(cells.inside.sum())} of {len(cells)} overall).",
                 "figure")
