"""log-Mel features equal librosa's reference computation, shape (261, 128), never NaN."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from sercore import features


def _segments(n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    return np.stack([(0.2 * np.sin(2 * np.pi * (150 + 50 * i) * t) + 0.01 * rng.normal(size=t.size))
                     for i in range(n)]).astype(np.float32)


def test_matches_the_paper_librosa_calls() -> None:
    segs = _segments()
    out = features.log_mel(segs)
    assert out.shape == (3, 261, 128) and out.dtype == np.float32
    for seg, got in zip(segs, out, strict=False):
        mel = librosa.feature.melspectrogram(y=seg, sr=16000, n_fft=368, hop_length=184, n_mels=128)
        ref = librosa.amplitude_to_db(mel, ref=np.min)
        np.testing.assert_allclose(got, ref.T, atol=2e-3)
        assert got.min() >= 0 and got.max() - got.min() <= 80 + 1e-3


def test_standard_db_is_power_to_db_relative_to_max() -> None:
    seg = _segments(1)
    got = features.log_mel(seg, db="standard")[0]
    mel = librosa.feature.melspectrogram(y=seg[0], sr=16000, n_fft=368, hop_length=184, n_mels=128)
    np.testing.assert_allclose(got, librosa.power_to_db(mel, ref=np.max).T, atol=2e-3)
    assert got.max() == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("db", ["paper", "standard"])
def test_all_zero_segment_gives_zeros_not_nan(db: str) -> None:
    out = features.log_mel(np.zeros((1, 48000), np.float32), db=db)
    assert np.isfinite(out).all() and (out == 0).all()


def test_unknown_db_mode() -> None:
    with pytest.raises(ValueError, match="paper or standard"):
        features.to_db(np.ones((2, 2)), "weird")
