"""Figures are valid PNGs and WAVs are valid 16 kHz audio (the inversion itself: tests/sercore/test_features.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import soundfile as sf

from runner.reduce.figures import audio_examples, bar_figures, example_jobs, spectrogram_panels
from runner.reduce.merge import load_run
from runner.reduce.tables import summarize
from tests.runner.fake_run import ATTACKS, DATASETS, make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
def test_figures_are_pngs_and_wavs_are_audio(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    data = load_run(paths.root, progress=False)
    s = summarize(data)
    bars = bar_figures(s, tmp_path / "fig")
    assert [m.path.name for m in bars] == ["fig04_time.png", "fig05_accuracy.png", "fig06_perturbation.png",
                                           "fig07_accuracy_gender.png", "fig08_perturbation_gender.png"]
    picks = example_jobs(data, s)
    assert len(picks) == len(ATTACKS) * len(DATASETS)
    panels = spectrogram_panels(picks, tmp_path / "fig")
    assert sorted(m.path.name for m in panels) == sorted(f"spectrogram_{a}.png" for a in ATTACKS)
    for m in [*bars, *panels]:
        assert m.path.read_bytes()[:8] == PNG_MAGIC
        img = mpimg.imread(m.path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    sounds = audio_examples(data, picks, tmp_path / "audio", limit=1)
    assert [m.path.name for m in sounds] == ["fgsm_emodb_clean.wav", "fgsm_emodb_adversarial.wav"]
    clips = []
    for m in sounds:
        info = sf.info(m.path)
        assert info.samplerate == 16000 and info.channels == 1 and 2.9 < info.duration < 3.1
        clip, _ = sf.read(m.path)
        assert np.isfinite(clip).all() and 0.5 < np.abs(clip).max() <= 1.0
        clips.append(clip)
    assert not np.allclose(clips[0], clips[1])  # the attack is audible as a difference
