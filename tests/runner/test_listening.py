"""The listening panel's waveform part: one entry per waveform attack, corpus and SNR budget, with PESQ, or a line
saying why there is no example."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import soundfile as sf

from runner.paths import RunPaths
from runner.planned import PlannedJob
from runner.reduce.listening import waveform_entries
from sercore.io import write_npz
from sercore.specs import AttackJob, CorpusSpec, DataSpec, TrainJob

CLASSES = ("anger", "neutral", "sadness")
TARGET = TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic")))


def _job(paths: RunPaths, attack: str, snr: float | None, examples: bool) -> PlannedJob:
    kw = {"snr_db": snr} if snr is not None else {}
    job = PlannedJob("attack", AttackJob(target=TARGET, attack=attack, domain="waveform", **kw), upstream="t0")
    if examples:
        rng = np.random.default_rng(len(attack))
        t = np.arange(48000) / 16000
        clean = 0.3 * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) * rng.normal(size=t.size)  # syllable-like bursts
        adv = clean + rng.normal(size=t.size) * 10 ** (-(snr or 30) / 20) * np.linalg.norm(clean) / np.sqrt(t.size)
        write_npz(paths.artefacts("attack", job.id) / "examples.npz", clean=clean[None].astype(np.float32),
                  adversarial=adv[None].astype(np.float32), sample=np.array([3]), y_true=np.array([0]),
                  y_clean=np.array([0]), y_adv=np.array([2]), gender=np.array(["male"]))
    return job


def test_panel_lists_every_waveform_attack_and_budget(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path / "run")
    write_npz(paths.artefacts("train", "t0") / "scaler.npz", classes=np.asarray(CLASSES))
    plan = [_job(paths, "fgsm", 30.0, True), _job(paths, "fgsm", 20.0, True), _job(paths, "square", 30.0, True),
            _job(paths, "boundary", 30.0, False)]
    data = SimpleNamespace(paths=paths, stages={"attack": SimpleNamespace(plan=plan)})
    panel = waveform_entries(data, SimpleNamespace(train=pd.DataFrame()), tmp_path / "audio")  # type: ignore[arg-type]
    assert [(e.attack, e.setting) for e in panel] == [
        ("FGSM (waveform)", "budget 20 dB SNR"), ("FGSM (waveform)", "budget 30 dB SNR"),
        ("BoundaryAttack (waveform)", "budget 30 dB SNR"), ("Square (waveform)", "budget 30 dB SNR")]
    voiced = [e for e in panel if not e.reason]
    assert len(voiced) == 3 and "no saved examples" in panel[2].reason
    for e in voiced:
        assert (e.true, e.clean_pred, e.adv_pred) == ("anger", "anger", "sadness")
        assert e.quality.startswith("PESQ ") and 1.0 <= float(e.quality.split()[1]) <= 4.65
        assert e.clean is not None and e.adversarial is not None and sf.info(e.adversarial).samplerate == 16000
        assert abs(float(e.size.split()[1]) - float(e.setting.split()[1])) < 0.5  # the example's SNR, as budgeted
    assert float(panel[0].quality.split()[1]) < float(panel[1].quality.split()[1])  # louder sounds worse
