"""The paper's nine versions of each trimmed signal: the original, 4 pitch shifts, 4 time stretches.

Augmentation is applied to the whole trimmed file before cutting it into 3 s pieces (paper order). The
results equal `librosa.effects.pitch_shift` / `time_stretch` exactly (same calls, same defaults), but the
STFT of the signal, which all eight share, is computed once instead of eight times. librosa 0.11 resamples
inside the pitch shift with soxr_hq where the paper's 0.9.2 used resampy kaiser_best: shifted signals differ in
the last bits, which can move a trim boundary and so, rarely, a chunk count.
"""

from __future__ import annotations

from collections.abc import Iterator

import librosa
import numpy as np

ORIGINAL = "original"


def version_names(pitch_steps: tuple[float, ...], stretch_rates: tuple[float, ...]) -> list[str]:
    """Stable names stored in the feature store: original, pitch-3.0, ..., stretch1.25."""
    return [ORIGINAL] + [f"pitch{float(s)}" for s in pitch_steps] + [f"stretch{float(r)}" for r in stretch_rates]


def _stretch(y: np.ndarray, stft: np.ndarray, rate: float) -> np.ndarray:
    """librosa.effects.time_stretch(y, rate) given stft = librosa.stft(y) (default n_fft 2048, hop 512)."""
    return librosa.istft(librosa.phase_vocoder(stft, rate=rate), dtype=y.dtype, length=int(round(y.shape[-1] / rate)))


def _pitch(y: np.ndarray, stft: np.ndarray, sr: int, n_steps: float) -> np.ndarray:
    """librosa.effects.pitch_shift(y, sr=sr, n_steps=n_steps) (12 bins per octave, soxr_hq) from a shared stft."""
    rate = 2.0 ** (-float(n_steps) / 12)
    shifted = librosa.resample(_stretch(y, stft, rate), orig_sr=float(sr) / rate, target_sr=sr, res_type="soxr_hq")
    return librosa.util.fix_length(shifted, size=y.shape[-1])


def versions(y: np.ndarray, sr: int, pitch_steps: tuple[float, ...] = (-3.0, -1.5, 1.5, 3.0),
             stretch_rates: tuple[float, ...] = (0.75, 0.9, 1.1, 1.25)) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, signal) for the original and each augmentation, lazily (one extra signal in memory)."""
    names = iter(version_names(pitch_steps, stretch_rates))
    yield next(names), y
    if not pitch_steps and not stretch_rates:
        return
    stft = librosa.stft(y)
    for step in pitch_steps:
        yield next(names), _pitch(y, stft, sr, step).astype(np.float32)
    for rate in stretch_rates:
        yield next(names), _stretch(y, stft, float(rate)).astype(np.float32)
