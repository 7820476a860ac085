"""log-Mel features of 3 s segments, exactly as the paper's code computed them, batched for speed.

Paper: `melspectrogram(y, sr=16000, n_fft=368, hop_length=184, n_mels=128)` (power 2, Hann, centred, zero
padding, Slaney mel, fmax sr/2 = 8000), then `amplitude_to_db(mel, ref=np.min)` applied to the *power* mel:
doubled dB relative to the segment's own minimum, floored at max - 80. `db="standard"` is the usual
`power_to_db(mel, ref=np.max)`. Output is time-major (frames, mels) = (261, 128) for 48000 samples.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import librosa
import numpy as np

if TYPE_CHECKING:
    from .specs import FeatureSettings


@lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    """librosa's Slaney mel filterbank, built once per setting (librosa rebuilds it on every call)."""
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=fmax).astype(np.float32)


def mel_power(segments: np.ndarray, sr: int = 16000, n_fft: int = 368, hop_length: int = 184,
              n_mels: int = 128, fmax: float = 8000.0) -> np.ndarray:
    """Power mel spectrogram of a batch (n, samples) -> (n, n_mels, frames); equals librosa.feature.melspectrogram."""
    spec = librosa.stft(segments, n_fft=n_fft, hop_length=hop_length, window="hann", center=True,
                        pad_mode="constant")
    power = np.abs(spec) ** 2
    return np.einsum("mf,nft->nmt", mel_basis(sr, n_fft, n_mels, fmax), power, optimize=True)


def to_db(mel: np.ndarray, mode: str = "paper") -> np.ndarray:
    """dB of one power mel matrix. `paper`: amplitude_to_db(ref=min), `standard`: power_to_db(ref=max).

    Both give 0 everywhere for an all-zero segment (amin clamps the reference), never NaN.
    """
    if mode == "paper":
        return librosa.amplitude_to_db(mel, ref=np.min, amin=1e-5, top_db=80.0)
    if mode == "standard":
        return librosa.power_to_db(mel, ref=np.max, amin=1e-10, top_db=80.0)
    raise ValueError(f"unknown dB mode {mode!r} (expected paper or standard)")


def log_mel(segments: np.ndarray, sr: int = 16000, n_fft: int = 368, hop_length: int = 184, n_mels: int = 128,
            fmax: float = 8000.0, db: str = "paper") -> np.ndarray:
    """Batch (n, samples) -> float32 (n, frames, mels) in dB, time-major as the paper stored it."""
    segments = np.atleast_2d(np.asarray(segments, dtype=np.float32))
    mel = mel_power(segments, sr, n_fft, hop_length, n_mels, fmax)
    out = np.stack([to_db(m, db) for m in mel]) if len(mel) else np.zeros((0, n_mels, 0), np.float32)
    return np.ascontiguousarray(out.transpose(0, 2, 1), dtype=np.float32)


GRIFFIN_LIM_SEED = 0


def invert_log_mel(spec: np.ndarray, fs: FeatureSettings, *, mean: np.ndarray | None = None,
                   std: np.ndarray | None = None) -> np.ndarray:
    """(frames, n_mels) log-Mel of one segment -> peak-normalised float32 waveform (Griffin-Lim), for listening.

    The inverse of `log_mel` under the run's own settings `fs`; `mean`/`std` undo the standardisation first.
    Both dB modes are relative, so the power comes back up to a scale; peak normalisation to 0.9 removes it.
    """
    x: np.ndarray = np.asarray(spec, dtype=np.float64).reshape(-1, fs.n_mels)
    if mean is not None and std is not None:
        x = x * np.asarray(std, dtype=np.float64).reshape(x.shape) + np.asarray(mean, dtype=np.float64).reshape(x.shape)
    divisor = 20.0 if fs.db == "paper" else 10.0  # paper: amplitude_to_db of the power mel (20 log10)
    power = 10.0 ** ((x - x.max()) / divisor)
    # librosa.feature.inverse.mel_to_audio in two steps, to seed Griffin-Lim's random initial phase: unseeded, it
    # draws from numpy's global generator and the same segment sounds (and is judged) differently call to call
    stft = librosa.feature.inverse.mel_to_stft(power.T, sr=fs.sample_rate, n_fft=fs.n_fft, power=2.0, fmax=fs.fmax)
    audio = librosa.griffinlim(stft, hop_length=fs.hop_length, n_fft=fs.n_fft, random_state=GRIFFIN_LIM_SEED)
    peak = float(np.abs(audio).max())
    return np.asarray(audio / peak * 0.9 if peak > 0 else audio, dtype=np.float32)
