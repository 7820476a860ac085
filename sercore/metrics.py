"""Test-set metrics the paper reports: accuracy overall and per speaker gender, and the confusion matrix.

Pure functions on label arrays; NaN (not 0) where a subset is empty, so a missing gender is never read as a
model that got everything wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import JobError
from .vocab import Gender


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise JobError(f"y_true {y_true.shape} and y_pred {y_pred.shape}: need two 1-D arrays of one length")
    return y_true, y_pred


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of equal labels; NaN for an empty set."""
    y_true, y_pred = _check(y_true, y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def accuracy_by_gender(y_true: np.ndarray, y_pred: np.ndarray, gender: Sequence[str] | np.ndarray) -> dict[str, float]:
    """{'overall', 'male', 'female'}: each accuracy on the samples of that speaker gender only."""
    y_true, y_pred = _check(y_true, y_pred)
    gender = np.asarray(gender).astype(str)
    if gender.shape != y_true.shape:
        raise JobError(f"gender {gender.shape}: need one entry per sample ({y_true.shape[0]})")
    out = {"overall": accuracy(y_true, y_pred)}
    for g in (Gender.MALE, Gender.FEMALE):
        mask = gender == g.value
        out[g.value] = accuracy(y_true[mask], y_pred[mask])
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; row = true class, column = predicted class."""
    y_true, y_pred = _check(y_true, y_pred)
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise JobError(f"labels must lie in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def composition(emotion: Sequence[str], gender: Sequence[str]) -> dict[str, dict[str, int]]:
    """{emotion: {'male': n, 'female': n}}: what the test set holds, for the report's tables."""
    df = pd.DataFrame({"emotion": np.asarray(emotion).astype(str), "gender": np.asarray(gender).astype(str)})
    out: dict[str, dict[str, int]] = {}
    for emo in sorted(df["emotion"].unique()):
        sub = df.loc[df["emotion"] == emo, "gender"]
        out[emo] = {g.value: int((sub == g.value).sum()) for g in (Gender.MALE, Gender.FEMALE)}
    return out
