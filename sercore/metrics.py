"""Test-set metrics the paper reports: accuracy overall and per speaker gender, and the confusion matrix; and
the field's robust accuracy beside the paper's accuracy under attack (success on the initially correct samples,
samples an attack repaired, the worst case over attacks).

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


# ---------------------------------------------------------------- robustness (beyond the paper)
# The paper scores accuracy under attack as mean(y_adv == y_true) while the attack pushes away from the
# *predicted* class: a sample the model got wrong is often pushed onto its true class and then counts as robust.
# RobustBench's robust accuracy counts a sample only if it is right both before and under the attack.


def _check3(y_true: np.ndarray, y_clean: np.ndarray, y_adv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true, y_clean = _check(y_true, y_clean)
    y_true, y_adv = _check(y_true, y_adv)
    return y_true, y_clean, y_adv


def robust_accuracy(y_true: np.ndarray, y_clean: np.ndarray, y_adv: np.ndarray) -> float:
    """Share of samples classified correctly both before and under the attack; NaN for an empty set."""
    y_true, y_clean, y_adv = _check3(y_true, y_clean, y_adv)
    return float(np.mean((y_clean == y_true) & (y_adv == y_true))) if y_true.size else float("nan")


def success_on_correct(y_true: np.ndarray, y_clean: np.ndarray, y_adv: np.ndarray) -> float:
    """Attack success rate on the initially correct samples (share now misclassified); NaN when none was."""
    y_true, y_clean, y_adv = _check3(y_true, y_clean, y_adv)
    right = y_clean == y_true
    return float(np.mean(y_adv[right] != y_true[right])) if right.any() else float("nan")


def repaired(y_true: np.ndarray, y_clean: np.ndarray, y_adv: np.ndarray) -> int:
    """Samples the attack repaired: wrong before, right under the attack (what inflates the paper's metric)."""
    y_true, y_clean, y_adv = _check3(y_true, y_clean, y_adv)
    return int(((y_clean != y_true) & (y_adv == y_true)).sum())


def robust_union(y_true: np.ndarray, y_clean: np.ndarray, y_adv: np.ndarray) -> np.ndarray:
    """Worst case over attacks: y_adv is (n, k), one column per attack configuration; a sample is robust (True)
    only if it is right before and under every one of them."""
    y_true, y_clean = _check(y_true, y_clean)
    y_adv = np.asarray(y_adv)
    if y_adv.ndim != 2 or y_adv.shape[0] != y_true.shape[0]:
        raise JobError(f"y_adv {y_adv.shape}: need (n samples, k attacks) with n = {y_true.shape[0]}")
    return (y_clean == y_true) & (y_adv == y_true[:, None]).all(axis=1)


def robustness_summary(y_true: np.ndarray, y_clean: np.ndarray, y_adv: np.ndarray) -> dict[str, float]:
    """Paper metric beside the field's: n, clean and paper accuracy, robust accuracy, success on the initially
    correct, repaired and broken (right before, wrong after) counts."""
    y_true, y_clean, y_adv = _check3(y_true, y_clean, y_adv)
    return {"n": int(y_true.size), "clean_accuracy": accuracy(y_true, y_clean),
            "paper_accuracy": accuracy(y_true, y_adv), "robust_accuracy": robust_accuracy(y_true, y_clean, y_adv),
            "success_on_correct": success_on_correct(y_true, y_clean, y_adv),
            "repaired": repaired(y_true, y_clean, y_adv),
            "broken": int(((y_clean == y_true) & (y_adv != y_true)).sum())}
