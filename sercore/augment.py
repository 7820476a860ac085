"""The paper's nine versions of each trimmed signal: the original, 4 pitch shifts, 4 time stretches.

Augmentation is applied to the whole trimmed file before cutting it into 3 s pieces (paper order). librosa
0.11 resamples inside `pitch_shift` with soxr_hq where 0.9.2 used resampy kaiser_best: shifted signals differ
in the last bits, which can move a trim boundary and so, rarely, a chunk count.
"""

from __future__ import annotations

from collections.abc import Iterator

import librosa
import numpy as np

ORIGINAL = "original"


def version_names(pitch_steps: tuple[float, ...], stretch_rates: tuple[float, ...]) -> list[str]:
    """Stable names stored in the feature store: original, pitch-3.0, ..., stretch1.25."""
    return [ORIGINAL] + [f"pitch{float(s)}" for s in pitch_steps] + [f"stretch{float(r)}" for r in stretch_rates]


def versions(y: np.ndarray, sr: int, pitch_steps: tuple[float, ...] = (-3.0, -1.5, 1.5, 3.0),
             stretch_rates: tuple[float, ...] = (0.75, 0.9, 1.1, 1.25)) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, signal) for the original and each augmentation, lazily (one extra signal in memory)."""
    names = iter(version_names(pitch_steps, stretch_rates))
    yield next(names), y
    for step in pitch_steps:
        yield next(names), librosa.effects.pitch_shift(y, sr=sr, n_steps=float(step)).astype(np.float32)
    for rate in stretch_rates:
        yield next(names), librosa.effects.time_stretch(y, rate=float(rate)).astype(np.float32)
