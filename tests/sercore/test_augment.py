"""The nine paper versions: names, order, lengths."""

from __future__ import annotations

import librosa
import numpy as np

from sercore import augment


def test_nine_versions_in_paper_order() -> None:
    sr = 16000
    y = (0.3 * np.sin(2 * np.pi * 180 * np.arange(sr * 2) / sr)).astype(np.float32)
    out = list(augment.versions(y, sr))
    names = [n for n, _ in out]
    assert names == ["original", "pitch-3.0", "pitch-1.5", "pitch1.5", "pitch3.0",
                     "stretch0.75", "stretch0.9", "stretch1.1", "stretch1.25"]
    assert names == augment.version_names((-3.0, -1.5, 1.5, 3.0), (0.75, 0.9, 1.1, 1.25))
    lengths = dict((n, s.size) for n, s in out)
    assert lengths["original"] == lengths["pitch3.0"] == y.size  # pitch shift keeps the duration
    for rate in (0.75, 0.9, 1.1, 1.25):
        assert abs(lengths[f"stretch{rate}"] - y.size / rate) < 200  # rate < 1 lengthens
    assert all(s.dtype == np.float32 for _, s in out)
    # a pitch shift of +3 semitones raises the dominant frequency by 2**(3/12)
    spec = np.abs(np.fft.rfft(dict(out)["pitch3.0"]))
    assert abs(np.argmax(spec) * sr / y.size - 180 * 2 ** 0.25) < 2


def test_shared_stft_gives_exactly_librosas_effects() -> None:
    sr = 16000
    y = np.random.default_rng(0).normal(0, 0.1, int(1.7 * sr)).astype(np.float32)
    out = dict(augment.versions(y, sr, (-1.5, 3.0), (0.75, 1.1)))
    np.testing.assert_array_equal(out["pitch-1.5"], librosa.effects.pitch_shift(y, sr=sr, n_steps=-1.5))
    np.testing.assert_array_equal(out["pitch3.0"], librosa.effects.pitch_shift(y, sr=sr, n_steps=3.0))
    np.testing.assert_array_equal(out["stretch0.75"], librosa.effects.time_stretch(y, rate=0.75))
    np.testing.assert_array_equal(out["stretch1.1"], librosa.effects.time_stretch(y, rate=1.1))
    assert list(augment.versions(y, sr, (), ())) == [("original", y)]
