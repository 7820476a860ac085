"""Figures are valid PNGs, WAVs are valid 16 kHz audio, and the Griffin-Lim inversion keeps a tone's pitch."""

from __future__ import annotations

from pathlib import Path

import librosa
import matplotlib.image as mpimg
import numpy as np
import pytest
import soundfile as sf

from runner.reduce.figures import audio_examples, bar_figures, example_jobs, invert_to_audio, spectrogram_panels
from runner.reduce.merge import load_run
from runner.reduce.tables import summarize
from tests.runner.fake_run import ATTACKS, DATASETS, make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FEATURES = {"sample_rate": 16000, "n_fft": 368, "hop_length": 184, "n_mels": 128, "fmax": 8000.0}


def _dominant_hz(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize("db", ["paper", "standard"])
def test_inversion_keeps_a_tone(db: str) -> None:
    sr, hz = 16000, 1000.0
    y = 0.5 * np.sin(2 * np.pi * hz * np.arange(3 * sr) / sr).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=368, hop_length=184, n_mels=128)
    # the two dB conventions of sercore: paper = amplitude_to_db on power, ref=min; standard = power_to_db ref=max
    spec = librosa.amplitude_to_db(mel, ref=np.min) if db == "paper" else librosa.power_to_db(mel, ref=np.max)
    x = spec.T  # (261, 128), time x mel as stored
    mean, std = np.full(x.shape, 30.0), np.full(x.shape, 7.0)
    audio = invert_to_audio((x - mean) / std, mean=mean, std=std, db=db, features=FEATURES)
    assert audio.dtype == np.float32 and abs(len(audio) - 3 * sr) <= 184
    assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-6)
    assert abs(_dominant_hz(audio, sr) - hz) < 60  # mel bands near 1 kHz are ~50 Hz wide


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
