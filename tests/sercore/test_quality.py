"""Perceptual metrics of waveform adversarial examples: ordered by noise level, NaN with a reason where undefined."""

from __future__ import annotations

import numpy as np
import pytest

from sercore import quality

SR = 16000


def _speechy(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Noise under a syllable-rate envelope: PESQ's voice activity detector finds utterances in it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    return (0.3 * envelope * rng.normal(size=t.size)).astype(np.float32)


def _noisy(x: np.ndarray, snr: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=x.shape)
    noise *= np.linalg.norm(x) / np.linalg.norm(noise) / 10 ** (snr / 20)
    return (x + noise).astype(np.float32)


def test_louder_noise_scores_worse_on_every_metric() -> None:
    x = _speechy()
    cols = quality.quality_columns(np.stack([x, x]), np.stack([_noisy(x, 40), _noisy(x, 10)]), SR)
    assert list(cols["quality_note"]) == ["", ""]
    for key in ("pesq_wb", "stoi", "seg_snr_db"):
        assert np.isfinite(cols[key]).all() and cols[key][0] > cols[key][1], key
    assert 1.0 <= cols["pesq_wb"][1] < cols["pesq_wb"][0] <= 4.65  # P.862.2's MOS-LQO range
    assert 0.0 <= cols["stoi"][1] < cols["stoi"][0] <= 1.0


def test_segmental_snr_is_clamped_per_frame() -> None:
    x = np.random.default_rng(3).normal(size=SR).astype(np.float32) * 0.1  # stationary: no silent frame
    assert quality.segmental_snr(x, x, SR) == pytest.approx(quality.SEG_MAX_DB)  # no noise: every frame at the cap
    assert quality.segmental_snr(x, _noisy(x, -30), SR) == pytest.approx(quality.SEG_MIN_DB)
    assert quality.segmental_snr(x, _noisy(x, 12), SR) == pytest.approx(12, abs=0.5)  # white noise: the SNR
    gaps = _speechy()  # silent frames count at the floor (Loizou's definition), so segSNR < the file's SNR
    assert quality.segmental_snr(gaps, gaps, SR) < quality.SEG_MAX_DB - 5


@pytest.mark.parametrize("clean,heard,sr,why", [
    (np.zeros(SR * 3), np.zeros(SR * 3), SR, "silent segment"),
    (_speechy(0.1), _speechy(0.1, 2), SR, "PESQ: buffer needs to be at least 1/4 of a second long"),
    (_speechy(), _speechy(), 22050, "PESQ needs 16000 Hz"),
])
def test_undefined_metrics_are_nan_with_the_reason(clean: np.ndarray, heard: np.ndarray, sr: int, why: str) -> None:
    value, reason = quality.pesq_wb(clean, heard, sr)
    assert np.isnan(value) and why in reason
    cols = quality.quality_columns(clean[None], heard[None], sr)  # never raises
    assert np.isnan(cols["pesq_wb"][0]) and why in cols["quality_note"][0]


def test_stoi_placeholder_for_too_few_speech_frames_is_nan() -> None:
    value, reason = quality.stoi(_speechy(0.1), _speechy(0.1, 2), SR)
    assert np.isnan(value) and reason == "STOI: too few speech frames"
