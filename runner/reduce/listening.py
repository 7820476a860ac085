"""The report's listening panel: per attack and corpus, one attacked example with its true label, the clean and
the adversarial prediction, the perturbation's size, and clean and adversarial sound side by side.

Spectrogram attacks are heard through Griffin-Lim (runner.reduce.figures.resynthesise: about 1-3 s per file, so
only the first `audio_limit` attacks get sound; the others get their labels and a line saying why). Waveform
attacks (`domain: waveform`) saved playable 16 kHz waveforms (the re-read 16-bit WAVs): one entry per attack, corpus
and SNR budget, written as they are with the wide-band PESQ of the pair, and the perturbation alone amplified to full
scale, since a 30 dB SNR difference is otherwise inaudible beside the speech.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sercore import vocab
from sercore.specs import AttackJob

from ..planned import PlannedJob
from .figures import example_jobs, resynthesise, write_wav
from .media import Listen
from .rundata import WAVEFORM, RunData
from .summary import Summary

log = logging.getLogger(__name__)


def class_names(data: RunData, s: Summary, train_id: str | None, dataset: str) -> list[str]:
    """The attacked model's class names: its scaler.npz `classes`, else the train row's `classes`."""
    scaler = data.paths.artefacts("train", train_id or "") / "scaler.npz"
    if train_id and scaler.is_file():
        with np.load(scaler) as npz:
            if "classes" in npz:
                return [str(c) for c in npz["classes"]]
    if "classes" in s.train:
        hit = s.train[(s.train.dataset == dataset) & s.train.classes.notna()]
        if len(hit):
            return [str(c) for c in hit.classes.iloc[0]]
    return []


def _label(names: list[str], k: Any) -> str:
    k = int(k)
    return names[k] if 0 <= k < len(names) else str(k)


def _example_index(npz: Any) -> int:
    """The first saved example the attack changed (y_adv != y_clean), else the first."""
    if "y_adv" not in npz:
        return 0
    changed = np.flatnonzero(np.asarray(npz["y_adv"]) != np.asarray(npz["y_clean"]))
    return int(changed[0]) if len(changed) else 0


def _labels(npz: Any, i: int, names: list[str]) -> dict[str, str]:
    if "y_true" not in npz:
        return {"true": "?", "clean_pred": "?", "adv_pred": "?"}
    return {"true": _label(names, npz["y_true"][i]), "clean_pred": _label(names, npz["y_clean"][i]),
            "adv_pred": _label(names, npz["y_adv"][i])}


def spectrogram_entries(data: RunData, s: Summary, folder: Path, limit: int) -> list[Listen]:
    """Every attack and corpus with saved examples: labels and size always, sound for the first `limit` attacks
    of each variant."""
    out: list[Listen] = []
    voiced: dict[str, set[str]] = {}
    for p in example_jobs(data, s):
        with np.load(p["examples"]) as npz:
            if len(npz["clean"]) == 0:
                continue
            i = _example_index(npz)
            clean, adv = np.asarray(npz["clean"][i]), np.asarray(npz["adversarial"][i])
            names = class_names(data, s, p["entry"].upstream if p["entry"] else None, p["dataset"])
            labels = _labels(npz, i, names)
        setting = ", ".join(x for x in (p["label"] or "(one setting)", p["variant"]) if x)
        entry = dict(attack=vocab.ATTACK_DISPLAY.get(p["attack"], p["attack"]),
                     dataset=vocab.CORPUS_DISPLAY.get(p["dataset"], p["dataset"]), setting=setting, **labels,
                     size=f"mean |Δx| {float(np.abs(adv - clean).mean()):.3f} (standardised log-Mel, z)")
        done = voiced.setdefault(p["variant"], set())
        if p["attack"] not in done and len(done) >= limit:
            out.append(Listen(**entry, reason=f"no sound: the report resynthesises the first {limit} attacks only "
                              "(Griffin-Lim costs 1-3 s per file; reduce_run(..., audio_limit=N) gives more)"))
            continue
        stem = "_".join(x for x in (p["attack"], p["dataset"], p["variant"]) if x)
        got = resynthesise(data, p, {"clean": clean, "adversarial": adv}, folder, stem)
        if isinstance(got, str):
            out.append(Listen(**entry, reason=f"no sound: {got}"))
            continue
        done.add(p["attack"])
        out.append(Listen(**entry, clean=got["clean"], adversarial=got["adversarial"]))
    return out


def _snr_db(clean: np.ndarray, adv: np.ndarray) -> float:
    noise = float(np.linalg.norm(adv - clean))
    return float("inf") if noise == 0 else 20 * np.log10(float(np.linalg.norm(clean)) / noise)


def _pesq(clean: np.ndarray, adv: np.ndarray, sr: int) -> str:
    """The example's wide-band PESQ, as sercore.quality records it (the saved adversarial is the re-read WAV)."""
    from sercore.quality import pesq_wb

    value, why = pesq_wb(clean, adv, sr)
    return f"PESQ {value:.2f}" if not why else f"PESQ n/a ({why.removeprefix('PESQ: ')})"


def _waveform_jobs(data: RunData) -> dict[tuple[str, str, float | None], list[tuple[PlannedJob, AttackJob]]]:
    """The run's waveform attack jobs by (attack, corpus, SNR budget), whether or not they saved examples."""
    res = data.stages.get("attack")
    groups: dict[tuple[str, str, float | None], list[tuple[PlannedJob, AttackJob]]] = {}
    for j in res.plan if res else []:
        if isinstance(j.spec, AttackJob) and j.spec.domain == WAVEFORM:
            key = (j.spec.attack, j.spec.target.data.corpus.name, j.spec.snr_db)
            groups.setdefault(key, []).append((j, j.spec))
    return dict(sorted(groups.items(), key=lambda kv: (vocab.attack_rank(kv[0][0]), vocab.corpus_rank(kv[0][1]),
                                                       kv[0][2] is None, kv[0][2] or 0.0)))


def _waveform_entry(data: RunData, s: Summary, folder: Path, job: PlannedJob, spec: AttackJob) -> Listen | None:
    """One job's first changed example: labels as re-read, players, SNR and PESQ; None without examples."""
    npz_path = data.paths.artefacts("attack", job.id) / "examples.npz"
    if not npz_path.is_file():
        return None
    dataset = spec.target.data.corpus.name
    with np.load(npz_path) as npz:
        if len(npz["clean"]) == 0:
            return None
        i = _example_index(npz)
        clean, adv = np.asarray(npz["clean"][i], float), np.asarray(npz["adversarial"][i], float)
        labels = _labels(npz, i, class_names(data, s, job.upstream, dataset))
    sr = spec.target.data.features.sample_rate
    budget = f"budget {spec.snr_db:g} dB SNR" if spec.snr_db is not None else "eps as given"
    stem = "_".join(["waveform", spec.attack, dataset] + ([f"{spec.snr_db:g}dB"] if spec.snr_db is not None else []))
    paths = {w: write_wav(folder / f"{stem}_{w}.wav", x, sr) for w, x in (("clean", clean), ("adversarial", adv))}
    diff = adv - clean
    peak = float(np.abs(diff).max())
    diff_path = write_wav(folder / f"{stem}_difference.wav", 0.9 * diff / peak, sr) if peak > 0 else None
    return Listen(attack=vocab.ATTACK_DISPLAY.get(spec.attack, spec.attack) + " (waveform)",
                  dataset=vocab.CORPUS_DISPLAY.get(dataset, dataset), setting=budget, **labels,
                  size=f"SNR {_snr_db(clean, adv):.1f} dB (perturbation vs the clean sound)",
                  clean=paths["clean"], adversarial=paths["adversarial"], difference=diff_path,
                  quality=_pesq(clean, adv, sr))


def waveform_entries(data: RunData, s: Summary, folder: Path) -> list[Listen]:
    """Per waveform attack, corpus and SNR budget: the first of its jobs that saved an example (predictions as
    re-read from the 16-bit WAV), or a line saying why there is none."""
    out: list[Listen] = []
    for (attack, dataset, snr), cands in _waveform_jobs(data).items():
        ordered = sorted(cands, key=lambda c: (c[1].slice, c[0].id))
        entry = next((e for j, spec in ordered if (e := _waveform_entry(data, s, folder, j, spec)) is not None), None)
        if entry is None:
            entry = Listen(attack=vocab.ATTACK_DISPLAY.get(attack, attack) + " (waveform)",
                           dataset=vocab.CORPUS_DISPLAY.get(dataset, dataset),
                           setting=f"budget {snr:g} dB SNR" if snr is not None else "eps as given", true="–",
                           clean_pred="–", adv_pred="–", size="–",
                           reason="no saved examples: the jobs have not finished, failed, or kept none (grid key "
                           "attack.examples)")
        out.append(entry)
    return out


def missing_entries(s: Summary, found: list[Listen]) -> list[Listen]:
    """A line for every attack of the run that has no example to show, saying why."""
    have = {(e.attack, e.dataset) for e in found}
    out = []
    best = s.best if not s.best.empty else pd.DataFrame(columns=["attack", "dataset"])
    for _, r in best.drop_duplicates(["attack", "dataset"]).iterrows():
        key = (vocab.ATTACK_DISPLAY.get(r.attack, r.attack), vocab.CORPUS_DISPLAY.get(r.dataset, r.dataset))
        if key not in have:
            out.append(Listen(attack=key[0], dataset=key[1], setting="", true="–", clean_pred="–", adv_pred="–",
                              size="–", reason="no saved examples: the attack jobs kept none (grid key "
                              "attack.examples) or their examples.npz is empty"))
            have.add(key)
    return out


def listening_panel(data: RunData, s: Summary, folder: Path, *, audio_limit: int = 4) -> list[Listen]:
    """Every attack and corpus of the run: an example with sound, or a line saying why not."""
    found = spectrogram_entries(data, s, folder, audio_limit) + waveform_entries(data, s, folder)
    return found + missing_entries(s, found)
