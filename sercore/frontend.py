"""The features path as TensorFlow ops: waveform -> standardised log-Mel, differentiable, for waveform attacks.

`sercore.features` computes the paper's log-Mel with librosa (numpy): fine for a feature store, opaque to
gradients. Here the same steps are TensorFlow ops, so a trained model composed with them (`waveform_model`) maps a
3-second 16 kHz segment straight to its class output and ART can perturb the *sound*:

- STFT: Hann (periodic, as librosa's `get_window(fftbins=True)`), `center=True` with zero padding of n_fft // 2
  on both sides, `fft_length = n_fft` (368: no power-of-two padding, as librosa);
- power spectrum |X|^2 as re^2 + im^2 (`tf.abs` has no gradient at 0), then librosa's Slaney mel filterbank
  (the same constant matrix, `sercore.features.mel_basis`);
- dB exactly as `sercore.features.to_db`: `paper` = amplitude_to_db(mel, ref=min, amin=1e-5, top_db=80),
  `standard` = power_to_db(mel, ref=max, amin=1e-10, top_db=80);
- the run's normalisation (`sercore.normalize`) and the per-cell standardiser (mean, std).

Gradients through the min/max of the dB step. `reduce_min` / `reduce_max` pass the gradient to the cell(s) that
hold the extreme value (TensorFlow splits it evenly among ties), and `maximum(x, floor)` passes it to whichever
argument is larger. So moving the segment's quietest mel cell shifts every un-floored cell's dB value (the
reference moves), and cells at the 80 dB floor follow the loudest cell instead of their own power: the function
is piecewise smooth, and its gradient is a valid subgradient everywhere. The logs run in float64, so the 1e-5 /
1e-10 clamps, not float32 underflow, decide where the gradient vanishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .features import mel_basis

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from .specs import FeatureSettings

TOP_DB = 80.0


def _db(mel: tf.Tensor, mode: str) -> tf.Tensor:
    """dB of a batch of power mels (n, frames, mels), per segment, as `sercore.features.to_db`."""
    import tensorflow as tf

    mel = tf.cast(mel, tf.float64)
    ten = tf.constant(10.0, tf.float64)

    def log10(v: tf.Tensor) -> tf.Tensor:
        return tf.math.log(v) / tf.math.log(ten)

    if mode == "paper":  # amplitude_to_db(S, ref=min, amin=1e-5) = 20 log10(max(1e-5, S)) - 20 log10(max(1e-5, min))
        ref = tf.reduce_min(mel, axis=(1, 2), keepdims=True)
        out = 20.0 * log10(tf.maximum(mel, 1e-5)) - 20.0 * log10(tf.maximum(ref, 1e-5))
    elif mode == "standard":  # power_to_db(S, ref=max, amin=1e-10)
        ref = tf.reduce_max(mel, axis=(1, 2), keepdims=True)
        out = 10.0 * log10(tf.maximum(mel, 1e-10)) - 10.0 * log10(tf.maximum(ref, 1e-10))
    else:
        raise ValueError(f"unknown dB mode {mode!r} (expected paper or standard)")
    return tf.maximum(out, tf.reduce_max(out, axis=(1, 2), keepdims=True) - TOP_DB)


def log_mel_tf(wave: tf.Tensor, fs: FeatureSettings) -> tf.Tensor:
    """(n, samples) float32 waveforms -> (n, frames, mels) float32 dB log-Mel, equal to `features.log_mel`."""
    import tensorflow as tf

    pad = fs.n_fft // 2
    x = tf.pad(tf.cast(wave, tf.float32), [[0, 0], [pad, pad]])
    spec = tf.signal.stft(x, frame_length=fs.n_fft, frame_step=fs.hop_length, fft_length=fs.n_fft,
                          window_fn=tf.signal.hann_window, pad_end=False)
    power = tf.square(tf.math.real(spec)) + tf.square(tf.math.imag(spec))  # (n, frames, bins)
    basis = tf.constant(mel_basis(fs.sample_rate, fs.n_fft, fs.n_mels, fs.fmax).T)  # (bins, mels)
    mel = tf.einsum("ntf,fm->ntm", power, basis)
    return tf.cast(_db(mel, fs.db), tf.float32)


def normalize_tf(x: tf.Tensor, method: str, dataset_max: float | None = None) -> tf.Tensor:
    """`sercore.normalize.normalize` as TF ops (a zero denominator leaves the matrix unchanged, as there)."""
    import tensorflow as tf

    if method == "original":
        return x
    if method == "norm_sum":
        denom = tf.cast(tf.reduce_sum(tf.cast(x, tf.float64), axis=(1, 2), keepdims=True), tf.float32)
    elif method == "norm_max_local":
        denom = tf.maximum(tf.reduce_max(x, axis=(1, 2), keepdims=True), 0.0)
    elif method == "norm_max_global":
        if dataset_max is None:
            raise ValueError("norm_max_global needs the dataset maximum (normalize.global_max)")
        denom = tf.fill(tf.stack([tf.shape(x)[0], 1, 1]), tf.constant(dataset_max, tf.float32))
    else:
        raise ValueError(f"unknown normalization {method!r}")
    return x / tf.where(tf.equal(denom, 0.0), tf.ones_like(denom), denom)


def features_tf(wave: tf.Tensor, fs: FeatureSettings, normalization: str = "original",
                dataset_max: float | None = None, mean: np.ndarray | None = None,
                std: np.ndarray | None = None) -> tf.Tensor:
    """Waveforms -> the model's input: log-Mel, then the run's normalisation and standardisation."""
    x = normalize_tf(log_mel_tf(wave, fs), normalization, dataset_max)
    if mean is not None and std is not None:
        frames, mels = x.shape[1], x.shape[2]
        x = (x - np.asarray(mean, np.float32).reshape(frames, mels)) / np.asarray(std, np.float32).reshape(frames, mels)
    return x


def waveform_model(model: keras.Model, fs: FeatureSettings, normalization: str = "original",
                   dataset_max: float | None = None, mean: np.ndarray | None = None,
                   std: np.ndarray | None = None) -> keras.Model:
    """One Keras model from a segment's waveform (samples,) to `model`'s output, the front end inside it."""
    import keras

    samples = int(round(fs.segment_s * fs.sample_rate))

    class FrontEnd(keras.layers.Layer):
        def call(self, wave: tf.Tensor) -> tf.Tensor:
            x = features_tf(wave, fs, normalization, dataset_max, mean, std)
            return x if len(model.input_shape) == 3 else x[..., None]

    wave = keras.Input(shape=(samples,), name="waveform")
    return keras.Model(wave, model(FrontEnd(name="log_mel_front_end")(wave)), name=f"{model.name}_waveform")
