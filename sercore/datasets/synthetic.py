"""The embedded synthetic corpus: a deterministic generator of emotional-sounding harmonic 'speech'.

Why: tests, demos and CI need a corpus that anyone can rebuild in seconds without a licence. Each emotion has
its own f0 level and range, syllable rate, energy, spectral tilt and breathiness, so a small CNN-LSTM learns it
well above chance while speakers (2 male, 2 female, different f0) and random durations keep it from being trivial.
Files are written at 22050 Hz (not 16 kHz, so the resampling path is exercised), 1-7 s long including leading
and trailing near-silence that the trim removes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..io import atomic_dir
from .base import CorpusLoader, ParseError

GENERATOR_VERSION = 2
NATIVE_RATE = 22050
DEFAULT_PER_CLASS = 8
# speaker -> base f0 in Hz
SPEAKERS = {"m1": 105.0, "m2": 128.0, "f1": 195.0, "f2": 228.0}
# emotion -> (f0 factor, f0 range in semitones, syllables per s, energy, harmonic roll-off exponent, breathiness)
EMOTION_PARAMS: dict[str, tuple[float, float, float, float, float, float]] = {
    "sadness": (0.88, 1.0, 2.4, 0.22, 2.3, 0.02),
    "neutral": (1.00, 2.5, 4.0, 0.45, 1.6, 0.01),
    "happiness": (1.30, 6.0, 5.5, 0.80, 1.0, 0.01),
    "boredom": (0.85, 0.6, 3.0, 0.33, 1.9, 0.01),
    "disgust": (1.05, 4.0, 3.2, 0.60, 1.3, 0.08),
    "anger": (1.25, 5.0, 5.0, 0.95, 0.8, 0.04),
    "fear": (1.40, 3.0, 6.2, 0.55, 1.4, 0.05),
    "calm": (0.95, 1.5, 3.3, 0.35, 1.8, 0.01),
    "surprise": (1.45, 8.0, 4.5, 0.70, 1.1, 0.02),
}


def utterance(speaker: str, emotion: str, rng: np.random.Generator, sr: int = NATIVE_RATE) -> np.ndarray:
    """One float32 utterance in [-1, 1]: voiced syllables with an emotion's prosody, padded with near-silence."""
    level, rng_st, rate, energy, tilt, breath = EMOTION_PARAMS[emotion]
    speech_s = rng.uniform(0.8, 6.0)
    n = int(speech_s * sr)
    t = np.arange(n) / sr
    rate *= 1 + rng.normal(0, 0.06)
    # Syllables: raised-sine bursts with random strength; a few are dropped to make pauses.
    syl = np.floor(t * rate).astype(int)
    strength = rng.uniform(0.5, 1.0, syl[-1] + 1) * (rng.random(syl[-1] + 1) > 0.12)
    env = np.sin(np.pi * (t * rate % 1.0)) ** 0.7 * strength[syl]
    # f0: speaker base x emotion level, a syllable-rate melody of the emotion's range, slow drift, declination.
    f0_base = SPEAKERS[speaker] * level * (1 + rng.normal(0, 0.03))
    melody = 0.5 * np.sin(2 * np.pi * rate / 2 * t + rng.uniform(0, 2 * np.pi))
    drift = np.interp(t, np.linspace(0, speech_s, 6), rng.normal(0, 0.3, 6))
    semis = rng_st * (melody + drift) - 1.5 * t / speech_s
    f0 = f0_base * 2 ** (semis / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    n_harm = int(min(5500, sr / 2 - 500) // f0.max())
    # sum_k k^-tilt sin(k phase + phi_k), via powers of exp(i phase): one complex multiply per harmonic, no sin
    z = np.exp(1j * phase)
    zk = np.ones(n, complex)
    acc = np.zeros(n, complex)
    for k in range(1, n_harm + 1):
        zk *= z
        acc += (k ** -tilt * np.exp(1j * rng.uniform(0, 2 * np.pi))) * zk
    voiced = acc.imag
    voiced /= np.abs(voiced).max() + 1e-9
    noise = rng.normal(0, 1, n) * breath * 4
    speech = energy * env * (voiced + noise)
    speech *= 0.9 / max(1.0, float(np.abs(speech).max()) / 0.9)
    lead, trail = (int(rng.uniform(0.1, 0.5) * sr) for _ in range(2))
    y = np.concatenate([np.zeros(lead), speech, np.zeros(trail)])
    y += rng.normal(0, 2e-4, y.size)  # room noise: far below the 30 dB trim threshold, never digital silence
    return np.clip(y, -1, 1).astype(np.float32)


def settings_hash(per_class: int, emotions: tuple[str, ...]) -> str:
    key = {"v": GENERATOR_VERSION, "per_class": per_class, "emotions": sorted(emotions), "sr": NATIVE_RATE}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def generate(folder: Path, per_class: int, emotions: tuple[str, ...]) -> None:
    """Write the corpus into `folder` (which must not exist) atomically: temp folder, then rename."""
    with atomic_dir(folder) as tmp:  # another process finishing first leaves an identical copy
        for s_idx, speaker in enumerate(SPEAKERS):
            (tmp / speaker).mkdir()
            for emotion in sorted(emotions):
                e_idx = list(EMOTION_PARAMS).index(emotion)
                for i in range(per_class):
                    rng = np.random.default_rng([GENERATOR_VERSION, s_idx, e_idx, i])
                    y = utterance(speaker, emotion, rng)
                    sf.write(tmp / speaker / f"{speaker}-{emotion}-{i:03d}.wav", y, NATIVE_RATE, subtype="PCM_16")


def ensure(cache_dir: Path, per_class: int | None, emotions: tuple[str, ...]) -> Path:
    """The generated corpus folder for these settings, generating it on first use."""
    per_class = DEFAULT_PER_CLASS if per_class is None else per_class
    folder = Path(cache_dir) / "synthetic" / settings_hash(per_class, emotions)
    if not folder.is_dir():
        generate(folder, per_class, emotions)
    return folder


class Synthetic(CorpusLoader):
    name = "synthetic"
    layout = "speaker folders m1 m2 f1 f2 with files named like f1-happiness-003.wav (see sercore.datasets.synthetic)"
    sample_rate = NATIVE_RATE

    def parse(self, rel: Path) -> dict[str, Any]:
        parts = rel.stem.split("-")
        if len(parts) != 3 or parts[0] not in SPEAKERS or parts[1] not in EMOTION_PARAMS:
            raise ParseError(f"name does not match <speaker>-<emotion>-<index>.wav: {rel.name}")
        return {"speaker": parts[0], "emotion": parts[1], "text": parts[2]}

    def gender(self, speaker: str) -> str:
        return "male" if speaker.startswith("m") else "female"
