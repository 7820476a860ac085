"""Figures like the paper's (4-8: bars of time, accuracy and perturbation; 9-14: clean / adversarial /
difference spectrograms) and WAV audio of a few attacked examples, inverted with Griffin-Lim so one can listen.

Spectrogram inversion undoes what the pipeline did, in reverse: standardisation (the train job's scaler.npz),
then dB (paper mode: 20*log10(P/Pmin), so P ~ 10**(dB/20); standard mode: P ~ 10**(dB/10)), then the mel
filterbank (librosa's mel_to_audio with the feature settings of the attacked model). The scale of P is lost
with the reference, which is harmless: the audio is peak-normalised.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sercore import vocab
from sercore.artefacts import check_examples, check_scaler, problem
from sercore.features import invert_log_mel  # noqa: E402
from sercore.io import atomic_path  # noqa: E402
from sercore.specs import AttackJob  # noqa: E402

from . import aggregate as agg  # noqa: E402
from .media import Media  # noqa: E402
from .media import save_figure as _save  # noqa: E402
from .rundata import RunData  # noqa: E402
from .summary import Summary  # noqa: E402

log = logging.getLogger(__name__)


def _variant_groups(s: Summary, frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    if not s.variants:
        return [("", frame)]
    return [("_" + "_".join(map(str, k if isinstance(k, tuple) else (k,))), g)
            for k, g in frame.groupby(s.variants, sort=True)]


def _ci_err(sub: pd.DataFrame, metric: str, attacks: list[str]) -> np.ndarray | None:
    """Whiskers from the tables' CI columns (`<metric>_lo/_hi`), none where the metric has no interval: a std
    over seeds is zero with one seed and would overstate certainty."""
    if f"{metric}_lo" not in sub or f"{metric}_hi" not in sub:
        return None
    mean = np.array([sub[f"{metric}_mean"].get(a, np.nan) for a in attacks], float)
    lo = np.array([sub[f"{metric}_lo"].get(a, np.nan) for a in attacks], float)
    hi = np.array([sub[f"{metric}_hi"].get(a, np.nan) for a in attacks], float)
    return np.nan_to_num(np.vstack([(mean - lo).clip(min=0), (hi - mean).clip(min=0)]))


def _bars(best: pd.DataFrame, metric: str, ylabel: str, title: str, *, log_y: bool = False,
          clean: dict[Hashable, float] | None = None) -> plt.Figure:
    """Grouped bars: attacks along x, one bar per dataset (the paper's Figures 4-6)."""
    attacks = sorted(best.attack.unique(), key=vocab.attack_rank)
    datasets = sorted(best.dataset.unique(), key=vocab.corpus_rank)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(attacks), 3.6))
    width = 0.8 / max(1, len(datasets))
    for i, d in enumerate(datasets):
        sub = best[best.dataset == d].set_index("attack")
        vals = [sub[f"{metric}_mean"].get(a, np.nan) for a in attacks]
        x = np.arange(len(attacks)) + (i - (len(datasets) - 1) / 2) * width
        bars = ax.bar(x, vals, width, yerr=_ci_err(sub, metric, attacks), capsize=2,
                      label=vocab.CORPUS_DISPLAY.get(d, d))
        if log_y:  # a zero has no bar on a log axis: say so rather than leave a silent gap
            for xi, v in zip(x, vals, strict=True):
                if v == 0:
                    ax.annotate("0", (xi, 0), xycoords=("data", "axes fraction"), ha="center", va="bottom")
        if clean and d in clean:
            ax.axhline(clean[d], color=bars.patches[0].get_facecolor(), ls="--", lw=1)
    ax.set_xticks(np.arange(len(attacks)), [vocab.ATTACK_DISPLAY.get(a, a) for a in attacks], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig


def _gender_bars(best: pd.DataFrame, metric: str, ylabel: str, title: str, *, log_y: bool = False) -> plt.Figure:
    """One panel per dataset, male and female bars per attack (the paper's Figures 7-8)."""
    attacks = sorted(best.attack.unique(), key=vocab.attack_rank)
    datasets = sorted(best.dataset.unique(), key=vocab.corpus_rank)
    fig, axes = plt.subplots(1, len(datasets), figsize=(0.5 + 3.2 * len(datasets), 3.8), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, d in zip(axes[0], datasets, strict=True):
        sub = best[best.dataset == d].set_index("attack")
        x = np.arange(len(attacks))
        for j, g in enumerate(("male", "female")):
            vals = [sub[f"{metric}_{g}_mean"].get(a, np.nan) for a in attacks]
            ax.bar(x + (j - 0.5) * 0.4, vals, 0.4, yerr=_ci_err(sub, f"{metric}_{g}", attacks), capsize=2, label=g)
        ax.set_xticks(x, [vocab.ATTACK_DISPLAY.get(a, a) for a in attacks], rotation=45, ha="right", fontsize="small")
        ax.set_title(vocab.CORPUS_DISPLAY.get(d, d))
        if log_y:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def bar_figures(s: Summary, folder: Path) -> list[Media]:
    """Figures 4-8 for each protocol/label variant the run holds."""
    out: list[Media] = []
    if s.best.empty:
        return out
    for suffix, best in _variant_groups(s, s.best):
        # Clean accuracy of the samples that were attacked: with a `limit` they are a subset of the test set,
        # so the training job's test accuracy would not be comparable with the bars.
        clean = best.groupby("dataset").clean_accuracy_mean.mean().to_dict() if "clean_accuracy_mean" in best else {}
        what = f" ({suffix[1:].replace('_', ', ')})" if suffix else ""
        ci = "whiskers: 95 % bootstrap CI over test recordings, as in the tables"
        specs = [
            ("fig04_time", _bars(best, "time_s", "seconds", "Time to attack the attacked samples" + what, log_y=True),
             "Figure 4: time to generate the adversarial examples of the attacked samples (best configurations; "
             "no whiskers: a time has no interval)."),
            ("fig05_accuracy", _bars(best, "accuracy", "accuracy", "Accuracy under attack" + what, clean=clean),
             f"Figure 5: accuracy under attack; {ci}; dashed lines: clean accuracy of the attacked samples."),
            ("fig06_perturbation", _bars(best, "perturbation", "mean |Δx| per cell (z)", "Mean perturbation" + what,
                                         log_y=True),
             f"Figure 6: mean perturbation (standardised log-Mel units); {ci}."),
            ("fig07_accuracy_gender", _gender_bars(best, "accuracy", "accuracy", "Accuracy under attack by "
                                                   "gender" + what),
             f"Figure 7: accuracy under attack, male vs female; {ci}."),
            ("fig08_perturbation_gender", _gender_bars(best, "perturbation", "mean |Δx| (z)", "Perturbation by "
                                                       "gender" + what, log_y=True),
             f"Figure 8: mean perturbation, male vs female; {ci}."),
        ]
        for name, fig, caption in specs:
            out.append(Media(_save(fig, folder / f"{name}{suffix}.png"), caption, "figure"))
    return out


def example_jobs(data: RunData, s: Summary) -> list[dict[str, Any]]:
    """For each (variant, attack, dataset): the best configuration's lowest-seed job that saved examples."""
    picks: list[dict[str, Any]] = []
    if s.best.empty or s.attack_seeds.empty:
        return picks
    plan = {j.id: j for j in data.plan("attack")}
    swept = {a: agg.swept_params(g.params) for a, g in s.attack_configs.groupby("attack")}
    for _, b in s.best.iterrows():
        seeds = s.attack_seeds
        mask = np.logical_and.reduce([seeds[k].astype(str) == str(b[k]) for k in agg.ATTACK_KEYS])
        for _, r in seeds[mask].sort_values("seed").iterrows():
            for job_id in str(r.job_ids).split(","):
                path = data.paths.artefacts("attack", job_id) / "examples.npz"
                if path.is_file() and not _bad_media(data, problem(check_examples, path), f"attack job {job_id}"):
                    label = agg.params_label(b.params, swept[b.attack]) if swept.get(b.attack) else ""
                    picks.append({"attack": b.attack, "dataset": b.dataset, "job_id": job_id, "examples": path,
                                  "params": b.params, "label": label, "entry": plan.get(job_id),
                                  "variant": "_".join(str(b[v]) for v in s.variants)})
                    break
            else:
                continue
            break
    return sorted(picks, key=lambda p: (p["variant"], vocab.attack_rank(p["attack"]), vocab.corpus_rank(p["dataset"])))


def _bad_media(data: RunData, why: str | None, what: str) -> bool:
    """Record a corrupt media artefact as a note of the report (it is skipped, the reduce goes on)."""
    if why:
        log.warning("%s skipped: %s", what, why)
        data.notes.append(f"{what} skipped: {why}")
    return bool(why)


def spectrogram_panels(picks: list[dict[str, Any]], folder: Path) -> list[Media]:
    """Per attack, one row per dataset: clean, adversarial and their difference (the paper's Figures 9-14)."""
    out: list[Media] = []
    by_attack: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in picks:
        by_attack.setdefault((p["variant"], p["attack"]), []).append(p)
    for (variant, attack), rows in by_attack.items():
        fig, axes = plt.subplots(len(rows), 3, figsize=(12, 2.9 * len(rows)), squeeze=False)
        for ax_row, p in zip(axes, rows, strict=True):
            with np.load(p["examples"]) as npz:
                if len(npz["clean"]) == 0:
                    continue
                clean, adv = np.squeeze(npz["clean"][0]), np.squeeze(npz["adversarial"][0])
            diff = adv - clean
            vmin, vmax = float(min(clean.min(), adv.min())), float(max(clean.max(), adv.max()))
            lim = float(np.abs(diff).max()) or 1.0
            ds_name = vocab.CORPUS_DISPLAY.get(p["dataset"], p["dataset"])
            ds_name += f" ({p['label'][:30]})" if p["label"] else ""
            for ax, img, title, kw in ((ax_row[0], clean, "clean", {"vmin": vmin, "vmax": vmax}),
                                       (ax_row[1], adv, "adversarial", {"vmin": vmin, "vmax": vmax}),
                                       (ax_row[2], diff, "difference", {"vmin": -lim, "vmax": lim, "cmap": "RdBu_r"})):
                im = ax.imshow(img.T, origin="lower", aspect="auto", **kw)
                ax.set_title(f"{ds_name}: {title}", fontsize="small")
                ax.set_xlabel("frame")
                ax.set_ylabel("mel bin")
                fig.colorbar(im, ax=ax, fraction=0.046)
        name = vocab.ATTACK_DISPLAY.get(attack, attack)
        fig.suptitle(name, fontsize="medium")
        fig.tight_layout()
        suffix = f"_{variant}" if variant else ""
        out.append(Media(_save(fig, folder / f"spectrogram_{attack}{suffix}.png", dpi=100),
                         f"{name}: clean, adversarial and difference spectrograms (standardised units), first saved "
                         "example of the best configuration per dataset.", "figure"))
    return out


def write_wav(path: Path, audio: np.ndarray, sr: int) -> Path:
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sr, format="WAV", subtype="PCM_16")
    return path


def resynthesise(data: RunData, p: dict[str, Any], pair: dict[str, np.ndarray], folder: Path,
                 stem: str) -> dict[str, Path] | str:
    """WAVs of log-Mel spectrograms (`pair`: name -> spectrogram) of one example pick, inverted with the attacked
    model's own settings; the reason as text when they cannot be heard."""
    spec = p["entry"].spec if p["entry"] is not None else None
    if not isinstance(spec, AttackJob):  # an attack plan holds attack jobs; mypy cannot know
        return "the attack job is not in the plan"
    tdata = spec.target.data  # the run's real settings: every default comes from sercore.specs
    if tdata.normalization != "original":
        return f"normalisation {tdata.normalization} cannot be undone"
    mean = std = None
    if tdata.standardize:
        scaler = data.paths.artefacts("train", p["entry"].upstream or "") / "scaler.npz"
        if not scaler.is_file():
            return f"the model's scaler {scaler.name} was not found"
        if _bad_media(data, problem(check_scaler, scaler), f"audio of attack job {p['job_id']}"):
            return f"the model's scaler {scaler.name} is corrupt"
        with np.load(scaler) as npz:
            mean, std = npz["mean"], npz["std"]
    features = tdata.features
    return {which: write_wav(folder / f"{stem}_{which}.wav", invert_log_mel(mel, features, mean=mean, std=std),
                             features.sample_rate) for which, mel in pair.items()}


def audio_examples(data: RunData, picks: list[dict[str, Any]], folder: Path, *, limit: int = 4) -> list[Media]:
    """Clean and adversarial WAVs for the first `limit` attacks of each variant (first dataset each)."""
    out: list[Media] = []
    seen: dict[str, set[str]] = {}
    for p in picks:
        done = seen.setdefault(p["variant"], set())
        if len(done) >= limit or p["attack"] in done or p["entry"] is None:
            continue
        with np.load(p["examples"]) as npz:
            if len(npz["clean"]) == 0:
                continue
            pair = {"clean": npz["clean"][0], "adversarial": npz["adversarial"][0]}
        stem = "_".join(x for x in (p["attack"], p["dataset"], p["variant"]) if x)
        got = resynthesise(data, p, pair, folder, stem)
        if isinstance(got, str):
            log.info("no audio for %s: %s", p["job_id"], got)
            continue
        done.add(p["attack"])
        name = vocab.ATTACK_DISPLAY.get(p["attack"], p["attack"])
        ds_name = vocab.CORPUS_DISPLAY.get(p["dataset"], p["dataset"])
        variant = f" [{p['variant']}]" if p["variant"] else ""
        out += [Media(path, f"{name}, {ds_name}{variant}: {which} (Griffin-Lim)", "audio")
                for which, path in got.items()]
    return out


def _curve(curves: dict[str, Any], name: str) -> np.ndarray:
    """One per-epoch curve of a train row's `curves` (merge's typed column), NaN where the epoch has none."""
    vals = curves.get(name)
    return np.asarray([] if vals is None else vals, dtype=float)


def curve_figure(train: pd.DataFrame, folder: Path) -> list[Media]:
    """Figure: loss and accuracy per epoch (train solid, validation dashed) per model configuration, every
    fold of a k-fold configuration overlaid, the restored (best) epoch marked."""
    if train.empty or "curves" not in train or train["curves"].isna().all():
        return []
    keys = [k for k in ("dataset", "protocol", "width", "monitor", "seed") if k in train]
    groups = list(train.groupby(keys, dropna=False, sort=True))
    fig, axes = plt.subplots(len(groups), 2, figsize=(10, 2.6 * len(groups)), squeeze=False)
    for (key, grp), (ax_loss, ax_acc) in zip(groups, axes, strict=False):
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key if isinstance(key, tuple) else (key,), strict=False))
        for j, (_, r) in enumerate(grp.sort_values("fold", na_position="first").iterrows()):
            c = r.get("curves")
            if not isinstance(c, dict):
                continue
            epochs = np.arange(1, len(_curve(c, "loss")) + 1)
            color = f"C{j % 10}"
            for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
                for prefix, style in (("", "-"), ("val_", "--")):
                    vals = _curve(c, prefix + metric)
                    if len(vals):
                        ax.plot(epochs[:len(vals)], vals, style, color=color,
                                lw=1, label=f"{'val' if prefix else 'train'}" + (
                                    f" fold {int(r['fold'])}" if not pd.isna(r.get("fold")) else ""))
                if r.get("best_epoch"):
                    ax.axvline(r["best_epoch"], color=color, lw=0.6, alpha=0.6)
        ax_loss.set(title=f"{label}: loss", xlabel="epoch")
        ax_acc.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
        for ax in (ax_loss, ax_acc):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_acc.legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    path = _save(fig, Path(folder) / "training_curves.png")
    return [Media(path, "Training curves per model: train (solid) and validation (dashed) loss and accuracy; "
                        "vertical lines: the restored (best) epoch", "figure")]


def build_figures(data: RunData, s: Summary, folder: Path) -> list[Media]:
    """The paper's figures and the uncertainty figures (runner.reduce.plots), written under `folder`/figures;
    sound is the listening panel's (runner.reduce.listening)."""
    from . import plots

    figs = folder / "figures"
    media = bar_figures(s, figs)
    media += plots.robustness_curves(s, figs)
    media += [m for m in (plots.accuracy_vs_perturbation(s, figs),) if m is not None]
    media += plots.confusion_figures(s, figs)
    media += curve_figure(s.train_runs, figs)
    media += spectrogram_panels(example_jobs(data, s), figs)
    return media


def beyond_figures(tables: list, folder: Path) -> list[Media]:
    """Figures of the "beyond the paper" tables (transfer heatmaps, robustness against SNR); imported lazily so
    this module stays light."""
    from .transfer_tables import transfer_figures
    from .waveform_tables import snr_figures

    return transfer_figures(tables, folder) + snr_figures(tables, folder)
