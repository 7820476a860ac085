"""The TensorFlow front end equals sercore.features (+ normalisation, standardisation) and passes gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sercore import extraction, features, frontend
from sercore import normalize as nz
from sercore.specs import FeatureSettings
from sercore.vocab import NORMALIZATIONS

tf = pytest.importorskip("tensorflow")

# Issue 24's bar: max |difference| on the standardised features.
TOLERANCE = 1e-4


def _tones(n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(48000) / 16000
    return np.stack([(0.3 * np.sin(2 * np.pi * (120 + 90 * i) * t) * np.sin(np.pi * t / 3)
                      + 0.005 * rng.normal(size=t.size)) for i in range(n)]).astype(np.float32)


def _standardised_both(waves: np.ndarray, fs: FeatureSettings, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(librosa path, TF path) standardised features, the standardiser fitted on the librosa features."""
    x = features.log_mel(waves, fs.sample_rate, fs.n_fft, fs.hop_length, fs.n_mels, fs.fmax, fs.db)
    top = nz.global_max(x)
    xn = nz.normalize(x, method, top)
    mean, std = nz.cell_stats(xn)
    want = nz.standardize(xn.copy(), mean, std)
    got = frontend.features_tf(tf.constant(waves), fs, method, top, mean, std).numpy()
    return want, got


@pytest.mark.parametrize("db", ["paper", "standard"])
def test_log_mel_equals_librosa_path(db: str) -> None:
    fs = FeatureSettings(db=db)
    waves = _tones()
    want = features.log_mel(waves, db=db)
    got = frontend.log_mel_tf(tf.constant(waves), fs).numpy()
    assert got.shape == want.shape == (4, 261, 128)
    # dB units. Both paths run a float32 STFT: in cells ~80 dB below the peak its rounding (~1e-7 of the peak
    # amplitude) is a 1e-3 relative power error, a few 1e-3 dB; the standardised bar (below) is what attacks see.
    assert np.abs(got - want).max() < 5e-3


@pytest.mark.parametrize("method", NORMALIZATIONS)
def test_standardised_features_agree(method: str) -> None:
    want, got = _standardised_both(_tones(), FeatureSettings(), method)
    assert np.abs(got - want).max() < TOLERANCE


def test_silence_gives_zeros_and_finite_gradients() -> None:
    wave = tf.Variable(np.zeros((1, 48000), np.float32))
    with tf.GradientTape() as tape:
        out = frontend.log_mel_tf(wave, FeatureSettings())
        total = tf.reduce_sum(out)
    assert (out.numpy() == 0).all()
    assert np.isfinite(tape.gradient(total, wave).numpy()).all()


def test_waveform_model_matches_the_feature_model_and_has_gradients() -> None:
    import keras

    fs = FeatureSettings()
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((261, 128)), keras.layers.Flatten(), keras.layers.Dense(5),
                              keras.layers.Softmax()])
    waves = _tones(3)
    x = features.log_mel(waves)
    mean, std = nz.cell_stats(x)
    composed = frontend.waveform_model(inner, fs, "original", None, mean, std)
    assert composed.input_shape == (None, 48000)
    want = inner.predict(nz.standardize(x.copy(), mean, std), verbose=0)
    np.testing.assert_allclose(composed.predict(waves, verbose=0), want, atol=1e-5)
    wave = tf.Variable(waves)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(composed(wave)[:, 0])
    grad = tape.gradient(loss, wave).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0


@pytest.mark.emodb
@pytest.mark.slow
def test_agrees_with_the_feature_path_on_real_emodb(emodb_root: Path) -> None:
    """All 9 versions of 20 real EmoDB files, every normalisation: max |difference| below 1e-4."""
    fs = FeatureSettings()
    files = sorted(emodb_root.glob("*.wav"))[:20]
    waves = np.concatenate([extraction.segment_waveforms(f, fs)[0] for f in files])
    versions = {v for f in files[:1] for v in extraction.segment_waveforms(f, fs)[1]}
    assert len(versions) == 9 and len(waves) >= 9 * 20
    for method in NORMALIZATIONS:
        want, got = _standardised_both(waves, fs, method)
        assert np.abs(got - want).max() < TOLERANCE, method
