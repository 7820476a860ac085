"""W01: attacks on the sound (`domain: waveform`), robust accuracy against the budget in dB of SNR.

Rows come from sercore.waveform_attack: `y_adv` is the prediction on the 16-bit WAV read back, `y_adv_float` the
float example's, `snr_db` the job's budget (None: the parameters' absolute eps), `snr_db_achieved` the re-read
file's. Robust accuracy is RobustBench's: correct before and under the attack; the paper's metric (correct under
the attack, whatever before) is kept beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.stats import StatsSettings

from . import aggregate as agg
from .cells import cells_table, config_labels, config_order, fmt_ci, label_frame
from .render import Table
from .uncertainty import recording_ci

KEYS = ["dataset", "protocol", "model_output", "attack", "params", "snr_db"]


def waveform_cells(rows: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """One row per (KEYS, gender): robust and paper accuracy with CIs over samples, SNR, quantisation effects."""
    if rows.empty:
        return pd.DataFrame()
    output = rows["model_output"].fillna("softmax") if "model_output" in rows else "softmax"  # rows before the column
    rows = rows.assign(model_output=output,robust=(rows.y_clean == rows.y_true) & (rows.y_adv == rows.y_true),
                       before=rows.y_clean == rows.y_true, after=rows.y_adv == rows.y_true,
                       float_fooled=rows.y_adv_float != rows.y_clean, heard_fooled=rows.y_adv != rows.y_clean,
                       budget=rows.snr_db.astype(float).fillna(np.inf))
    out = []
    for key, grp in rows.groupby([*KEYS[:-1], "budget"], dropna=False, sort=True):
        for gender in ("all", "male", "female"):
            sub = grp if gender == "all" else grp[grp.gender.astype(str) == gender]
            if sub.empty:
                continue
            robust = recording_ci(sub, "robust", settings)
            paper = recording_ci(sub, "after", settings)
            snr = sub.snr_db_achieved.replace(np.inf, np.nan)
            out.append({**dict(zip(KEYS, key, strict=True)), "gender": gender, "n": len(sub),
                        "clean": float(sub.before.mean()), "robust": robust.estimate, "robust_lo": robust.low,
                        "robust_hi": robust.high, "n_eff": robust.n_clusters, "ci_unit": robust.unit,
                        "accuracy": paper.estimate, "accuracy_lo": paper.low, "accuracy_hi": paper.high,
                        "success": float((sub.heard_fooled & sub.before).sum() / max(1, sub.before.sum())),
                        "undone_by_16bit": int((sub.float_fooled & ~sub.heard_fooled).sum()),
                        "projected": int(sub.projected.sum()) if "projected" in sub else 0,
                        "snr_median": float(snr.median()), "snr_min": float(snr.min())} | _quality(sub))
    return pd.DataFrame(out)


def _quality(sub: pd.DataFrame) -> dict[str, float]:
    """Medians of PESQ (wide band), STOI and segmental SNR over the examples where defined (NaN: rows before
    sercore.quality, or none defined), and how many examples have no PESQ."""
    med = {f"{c}_median": float(sub[c].median()) if c in sub else float("nan")
           for c in ("pesq_wb", "stoi", "seg_snr_db")}
    return med | {"pesq_missing": int(sub.pesq_wb.isna().sum()) if "pesq_wb" in sub else len(sub)}


def quality_note(rows: pd.DataFrame) -> str:
    """Why metrics are missing, with counts over the run's waveform examples (empty when none is missing)."""
    if "quality_note" not in rows:
        return "PESQ / STOI: not recorded (shards made before sercore.quality)."
    reasons = rows.quality_note.fillna("").astype(str).str.split("; ").explode()
    counts = reasons[reasons != ""].value_counts()
    if counts.empty:
        return ""
    return "Metrics not computed: " + ", ".join(f"{why} ({n})" for why, n in counts.items()) + "."


def _fmt(value: float, spec: str) -> str:
    return format(value, spec) if np.isfinite(value) else "–"


NOTES = [
    "Each adversarial waveform is written as a 16-bit WAV and read back; predictions are the re-read "
    "file's. Robust accuracy: correct before and under the attack (RobustBench); the paper's metric "
    "counts a sample correct under the attack whatever it was before.",
    "Budget: per sample eps_2 = ||x||_2 / 10^(SNR/20) (L-inf: eps_2 / sqrt(48000)); minimal-norm and "
    "decision attacks (DeepFool, C&W L2, BoundaryAttack) are scaled onto that L2 ball where louder "
    "('projected'). 'undone by 16-bit': the float example fooled the model, the WAV did not.",
    "How it sounds, re-read WAV against the clean segment (sercore.quality): wide-band PESQ "
    "(ITU-T P.862.2, MOS-LQO 1.0-4.64), STOI (0-1), segmental SNR (Loizou 2013: 30-ms frames, each "
    "limited to [-10, 35] dB); medians over the examples where defined, 'no PESQ' counts the others.",
]


def _display(cells: pd.DataFrame) -> pd.DataFrame:
    recs: list[dict[str, Any]] = []
    order = config_order(cells, "snr_db", "_g", _g=cells.gender.map({"all": 0, "male": 1, "female": 2}))
    for _, r in order.iterrows():
        recs.append({
            **config_labels(r, agg.params_label(r.params)),
            "budget (SNR dB)": "eps as given" if np.isinf(r.snr_db) else f"{r.snr_db:g}", "gender": r.gender,
            "n (recordings)": f"{int(r.n)} ({int(r.n_eff)})", "clean": f"{r.clean:.3f}",
            "robust accuracy": fmt_ci(r.robust, r.robust_lo, r.robust_hi, None, ".3f"),
            "accuracy (paper metric)": fmt_ci(r.accuracy, r.accuracy_lo, r.accuracy_hi, None, ".3f"),
            "success on correct": f"{r.success:.3f}",
            "SNR achieved (dB, median / min)": f"{r.snr_median:.1f} / {r.snr_min:.1f}"
            if np.isfinite(r.snr_median) else "–",
            "undone by 16-bit": int(r.undone_by_16bit), "projected": int(r.projected),
            "PESQ wb (median)": _fmt(r.pesq_wb_median, ".2f"), "STOI (median)": _fmt(r.stoi_median, ".3f"),
            "segSNR dB (median)": _fmt(r.seg_snr_db_median, ".1f"), "no PESQ": int(r.pesq_missing)})
    return label_frame(recs, 7)


def table_waveform(rows: pd.DataFrame, settings: StatsSettings, note: str) -> Table | None:
    """W01, or None when the run has no waveform attacks."""
    return cells_table("W01_waveform_snr", "Attacks on the waveform: robust accuracy against the budget in dB of SNR",
                       waveform_cells(rows, settings), _display,
                       [*NOTES, *[n for n in (quality_note(rows),) if n], note])


def snr_figures(tables: list, folder: Path) -> list:
    """Per corpus and model: robust accuracy against the SNR budget (dB), a line per attack with its CI band, by
    gender in panels; the clean accuracy of the same samples dashed. Louder (lower SNR) is to the left."""
    import matplotlib.pyplot as plt

    from .media import Media, save_figure

    table = next((t for t in tables if t.name == "W01_waveform_snr"), None)
    if table is None:
        return []
    cells = table.data[np.isfinite(table.data.snr_db.astype(float))]
    out = []
    for (dataset, protocol, output), sub in cells.groupby(["dataset", "protocol", "model_output"], sort=True):
        genders = [g for g in ("all", "male", "female") if g in set(sub.gender)]
        fig, axes = plt.subplots(1, len(genders), figsize=(4.2 * len(genders), 3.4), squeeze=False, sharey=True,
                                 layout="constrained")
        for ax, gender in zip(axes[0], genders, strict=True):
            part = sub[sub.gender == gender]
            several = part.groupby("attack")["params"].nunique()
            for i, ((attack, params), line) in enumerate(part.groupby(["attack", "params"], sort=False)):
                line = line.sort_values("snr_db")
                label = vocab.ATTACK_DISPLAY.get(attack, attack) + \
                    (f" ({agg.params_label(params)})" if several[attack] > 1 else "")
                ax.plot(line.snr_db, line.robust, "o-", color=f"C{i % 10}", label=label)
                ax.fill_between(line.snr_db, line.robust_lo, line.robust_hi, color=f"C{i % 10}", alpha=0.15)
            ax.axhline(float(part.clean.max()), ls="--", color="0.4", lw=1, label="clean")
            ax.set(title=f"{vocab.CORPUS_DISPLAY.get(dataset, dataset)}, {gender}", xlabel="budget: SNR (dB)",
                   ylim=(-0.02, 1.02))
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("robust accuracy")
        axes[0][-1].legend(fontsize=7, loc="lower right")
        name = f"W01_snr_{dataset}_{protocol}_{output}.png"
        out.append(Media(save_figure(fig, folder / name, dpi=150),
                         f"Attacks on the waveform, {vocab.CORPUS_DISPLAY.get(dataset, dataset)} ({protocol}, "
                         f"{output} model): robust "
                         "accuracy (right before and under the attack, on the re-read 16-bit WAV) against the "
                         "budget in dB SNR; bands: 95 % bootstrap CI over whole test recordings.", "figure"))
    return out
