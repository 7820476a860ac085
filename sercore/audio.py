"""Load, trim and cut audio into the paper's fixed 3 s pieces.

The paper's code (librosa 0.9.2) resampled with resampy `kaiser_best`; librosa 0.11 uses soxr (`soxr_hq`).
For corpora recorded at 48 kHz (EMOVO, RAVDESS) or the synthetic 22.05 kHz corpus this changes samples slightly,
which can move a trim boundary by a frame and so, rarely, the number of 3 s chunks. EmoDB is 16 kHz natively:
no resampling, so its counts are unaffected.
"""

from __future__ import annotations

import os
from pathlib import Path

import librosa
import numpy as np

from .errors import DataError


def load(path: str | Path, sr: int = 16000) -> np.ndarray:
    """Mono float32 at `sr` (channels averaged, resampled with librosa's default soxr_hq)."""
    if not Path(path).is_file():
        raise DataError(f"cannot read audio {path}: no such file")
    try:  # libsndfile reports a file it may not open as "System error"
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        raise DataError(f"cannot read audio {path}: permission denied") from None
    try:
        y, _ = librosa.load(str(path), sr=sr, mono=True)
    except Exception as exc:  # soundfile/audioread errors differ by backend
        raise DataError(f"cannot read audio {path}: {str(exc).splitlines()[0][:160]}") from exc
    return np.ascontiguousarray(y, dtype=np.float32)


def trim(y: np.ndarray, top_db: float = 30.0, frame_length: int = 512, hop_length: int = 64) -> np.ndarray:
    """Leading/trailing silence removed relative to the signal's peak (librosa.effects.trim, ref=max)."""
    out, _ = librosa.effects.trim(y, top_db=top_db, frame_length=frame_length, hop_length=hop_length)
    return out


def tile(y: np.ndarray, length: int) -> np.ndarray:
    """Loop `y` until it is exactly `length` samples (the paper pads by repetition, never with zeros)."""
    if y.size == 0:
        raise ValueError("cannot tile an empty signal")
    reps = -(-length // y.size)
    return np.tile(y, reps)[:length]


def segment(y: np.ndarray, length: int = 48000, min_tail: int = 0, top_db: float = 30.0,
            frame_length: int = 512, hop_length: int = 64) -> list[np.ndarray]:
    """Cut a trimmed signal into `length`-sample pieces as the paper's code did.

    A signal shorter than `length` is one piece (not re-trimmed). A longer one is cut into consecutive
    chunks while more than `min_tail` samples remain (paper: int(0.9) == 0, so every tail is kept); each chunk
    is trimmed again. Every piece is then tiled to exactly `length`. A chunk that trims to nothing (possible
    only for a tail of a few samples) is dropped, where the paper's code would have divided by zero.
    """
    if y.size < length:
        pieces = [y]
    else:
        pieces = []
        start = 0
        while y.size - start > min_tail:
            chunk = trim(y[start:start + length], top_db, frame_length, hop_length)
            pieces.append(chunk)
            start += length
    return [tile(p, length) for p in pieces if p.size > 0]
