"""The four normalisations and the per-cell standardiser (equal to sklearn's StandardScaler)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from sercore import normalize as nz


def _x() -> np.ndarray:
    x = np.random.default_rng(1).uniform(0, 100, size=(6, 5, 4)).astype(np.float32)
    x[3] = 0.0  # an all-zero (digitally silent) segment
    return x


def test_methods() -> None:
    x = _x()
    np.testing.assert_array_equal(nz.normalize(x, "original"), x)
    s = nz.normalize(x, "norm_sum")
    np.testing.assert_allclose(s[[0, 1, 2, 4, 5]].sum(axis=(1, 2)), 1.0, rtol=1e-5)
    loc = nz.normalize(x, "norm_max_local")
    np.testing.assert_allclose(loc[[0, 1, 2, 4, 5]].max(axis=(1, 2)), 1.0, rtol=1e-6)
    glob = nz.normalize(x, "norm_max_global", nz.global_max(x))
    assert glob.max() == pytest.approx(1.0) and glob[0, 0, 0] == pytest.approx(x[0, 0, 0] / x.max())
    for out in (s, loc, glob):
        assert np.isfinite(out).all() and (out[3] == 0).all()
    with pytest.raises(ValueError, match="dataset maximum"):
        nz.normalize(x, "norm_max_global")
    with pytest.raises(ValueError, match="expected one of original"):
        nz.normalize(x, "zscore")


def test_standardiser_equals_sklearn_and_splits_add_up() -> None:
    x = _x()
    x[:, 0, 0] = 7.0  # a constant cell: std 0 -> 1
    mean, std = nz.cell_stats(x)
    ref = StandardScaler().fit(x.reshape(len(x), -1))
    np.testing.assert_allclose(mean.ravel(), ref.mean_, rtol=1e-5)
    np.testing.assert_allclose(std.ravel(), ref.scale_, rtol=1e-5)
    m2, s2 = nz.cell_stats(x[:2], x[2:])  # several arrays = their union
    np.testing.assert_allclose(m2, mean, rtol=1e-6)
    np.testing.assert_allclose(s2, std, rtol=1e-5)
    out = nz.standardize(x.copy(), mean, std)
    np.testing.assert_allclose(out.reshape(len(x), -1), ref.transform(x.reshape(len(x), -1)), atol=1e-4)
    with pytest.raises(ValueError, match="zero samples"):
        nz.cell_stats(x[:0])
