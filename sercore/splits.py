"""Train/validation/test splits of feature-store segments, both protocols, seeded and machine-independent.

`paper`: what the paper's code did. A stratified random split of *segments* (80/20, sklearn
train_test_split), then Keras' validation_split=0.2: the last 20 % of the training rows in that order. Augmented
copies and sibling chunks of one recording land on both sides: a leak, reproduced on purpose.
`clean`: grouped by recording (or speaker), stratified by emotion (StratifiedGroupKFold): every version and
chunk of a recording is on one side; validation and test keep only original (non-augmented) segments.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from .augment import ORIGINAL
from .errors import JobError


class Split(NamedTuple):
    """Row indices into the feature store's meta table."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def paper_split(labels: np.ndarray, seed: int, test_size: float = 0.2, val_size: float = 0.2) -> Split:
    """Segment-level stratified split, then the last `val_size` of the training order as validation."""
    idx = np.arange(len(labels))
    try:
        trval, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise JobError(f"paper split impossible on {len(labels)} segments: {exc}") from exc
    split_at = int(len(trval) * (1.0 - val_size))  # keras.Model.fit(validation_split=...) rule
    return Split(np.asarray(trval[:split_at]), np.asarray(trval[split_at:]), np.asarray(test))


def _one_fold(labels: np.ndarray, groups: np.ndarray, size: float, seed: int, what: str) -> np.ndarray:
    """Boolean mask of the held-out fold of a StratifiedGroupKFold with about `size` of the groups."""
    n_groups = len(np.unique(groups))
    n_splits = min(max(2, round(1 / size)), n_groups)
    if n_groups < 2:
        raise JobError(f"clean split: need at least 2 {what} groups, found {n_groups}")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # small corpora: a class with fewer groups than folds is fine here, we only take one fold
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        _, held = next(cv.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return mask


def clean_split(meta: pd.DataFrame, labels: np.ndarray, seed: int, speaker_independent: bool = False,
                test_size: float = 0.2, val_size: float = 0.2) -> Split:
    """Grouped, stratified split: no recording (or speaker) on two sides; val/test on original versions."""
    key = "speaker" if speaker_independent else "recording"
    groups = meta[key].astype(str).to_numpy()
    original = (meta["version"] == ORIGINAL).to_numpy()
    orig_idx = np.flatnonzero(original)
    test_mask = _one_fold(labels[orig_idx], groups[orig_idx], test_size, seed, key)
    test_groups = set(groups[orig_idx[test_mask]])
    rest = orig_idx[~test_mask]
    val_mask = _one_fold(labels[rest], groups[rest], val_size, seed + 1, key)  # 20 % of the rest: 64/16/20
    val_groups = set(groups[rest[val_mask]])
    in_test = np.isin(groups, list(test_groups))
    in_val = np.isin(groups, list(val_groups))
    train = np.flatnonzero(~in_test & ~in_val)
    val = np.flatnonzero(in_val & original)
    test = np.flatnonzero(in_test & original)
    if min(len(train), len(val), len(test)) == 0:
        raise JobError(f"clean split left an empty side (train {len(train)}, val {len(val)}, test {len(test)})")
    return Split(train, val, test)
