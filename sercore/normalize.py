"""The paper's four normalisations of a dB log-Mel batch and the per-cell standardiser.

`original` leaves dB values alone; `norm_sum` divides each matrix by its sum (it then sums to 1);
`norm_max_global` divides by the maximum over the fitting set (the dataset); `norm_max_local` divides each
matrix by its own maximum. Standardisation is sklearn's StandardScaler on (N, 261*128): one mean and one
population std per time x mel cell, std 0 replaced by 1. An all-zero matrix stays all-zero (never NaN): the
paper's code produced NaN there for EMOVO/RAVDESS (see docs/paper-settings.md).
"""

from __future__ import annotations

import numpy as np

from .vocab import NORMALIZATIONS

METHODS = NORMALIZATIONS  # the vocabulary's owner is sercore.vocab
_CHUNK = 512  # samples per pass: keeps float64 temporaries small on 2-core, shared-memory nodes


def _safe_divide(x: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """x / denom broadcasting over each matrix, leaving matrices with a zero denominator unchanged."""
    denom = np.where(denom == 0, 1.0, denom).astype(np.float32)
    return x / denom


def global_max(x: np.ndarray) -> float:
    """The dataset maximum used by `norm_max_global` (computed chunkwise so a memmap is read once)."""
    return float(max((float(np.max(x[i:i + _CHUNK])) for i in range(0, len(x), _CHUNK)), default=0.0))


def normalize(x: np.ndarray, method: str, dataset_max: float | None = None) -> np.ndarray:
    """A new float32 array: `x` (n, frames, mels) under one of METHODS."""
    x = np.asarray(x, dtype=np.float32)
    if method == "original":
        return x.copy()
    if method == "norm_sum":
        return _safe_divide(x, x.sum(axis=(1, 2), dtype=np.float64, keepdims=True))
    if method == "norm_max_local":
        return _safe_divide(x, x.max(axis=(1, 2), keepdims=True, initial=0.0))
    if method == "norm_max_global":
        if dataset_max is None:
            raise ValueError("norm_max_global needs the dataset maximum (normalize.global_max)")
        return _safe_divide(x, np.asarray(dataset_max))
    raise ValueError(f"unknown normalization {method!r} (expected one of {', '.join(METHODS)})")


def cell_stats(*xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell mean and population std over the samples of all `xs` together (no concatenation).

    Two passes in float64 (mean, then squared deviations) for accuracy; std 0 -> 1 as StandardScaler does.
    """
    n = sum(len(x) for x in xs)
    if n == 0:
        raise ValueError("cannot fit a standardiser on zero samples")
    total = np.zeros(xs[0].shape[1:], np.float64)
    for x in xs:
        for i in range(0, len(x), _CHUNK):
            total += np.asarray(x[i:i + _CHUNK], dtype=np.float64).sum(axis=0)
    mean = total / n
    sq = np.zeros_like(mean)
    for x in xs:
        for i in range(0, len(x), _CHUNK):
            sq += np.square(np.asarray(x[i:i + _CHUNK], dtype=np.float64) - mean).sum(axis=0)
    std = np.sqrt(sq / n)
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std in place on a float32 array that the caller owns; returns it."""
    for i in range(0, len(x), _CHUNK):
        x[i:i + _CHUNK] -= mean
        x[i:i + _CHUNK] /= std
    return x
