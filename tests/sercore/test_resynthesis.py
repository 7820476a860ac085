"""Re-synthesis keeps a clean segment's features close and its shape, and refuses what it cannot invert."""

from __future__ import annotations

import numpy as np
import pytest

from sercore import features
from sercore import normalize as nz
from sercore.resynthesis import resynthesised
from sercore.specs import FeatureSettings


def _speechlike(n: int = 2) -> np.ndarray:
    t = np.arange(48000) / 16000
    return np.stack([0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t))
                     for i in range(n)]).astype(np.float32)


def test_round_trip_gives_model_inputs_close_to_the_originals() -> None:
    fs = FeatureSettings()
    x = features.log_mel(_speechlike())
    mean, std = nz.cell_stats(x)
    xs = nz.standardize(x.copy(), mean, std)[..., None]
    back = resynthesised(xs, fs, "original", mean, std)
    assert back.shape == xs.shape and np.isfinite(back).all()
    # The paper's dB is relative to the segment's quietest cell, which Griffin-Lim's residual noise moves: each
    # segment shifts by one offset (tens of dB on a pure tone), with its shape kept around it.
    diff = (back[..., 0] * std + mean) - x
    for d in diff:
        spread = np.abs(d - np.median(d))
        assert np.median(spread) < 0.5 and np.percentile(spread, 90) < 3.0  # dB
    assert np.abs(diff).max() > 1e-3  # not the identity


def test_other_normalisations_are_refused() -> None:
    with pytest.raises(ValueError, match="normalization original"):
        resynthesised(np.zeros((1, 261, 128, 1), np.float32), FeatureSettings(), "norm_sum", None, None)
