"""Metrics: gender accuracies are computed on the right subsets; confusion rows are true classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sercore.errors import JobError
from sercore.metrics import accuracy, accuracy_by_gender, composition, confusion_matrix


def test_accuracy_by_gender_uses_each_subset() -> None:
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([0, 1, 2, 1, 1, 0])  # male all right, female 1 of 3
    gender = ["male", "male", "male", "female", "female", "female"]
    acc = accuracy_by_gender(y_true, y_pred, gender)
    assert acc == {"overall": 4 / 6, "male": 1.0, "female": 1 / 3}


def test_missing_gender_is_nan_not_zero() -> None:
    acc = accuracy_by_gender(np.array([0, 1]), np.array([0, 0]), ["female", "female"])
    assert math.isnan(acc["male"]) and acc["female"] == 0.5


def test_confusion_matrix_rows_are_true_labels() -> None:
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert cm.sum() == 4 and np.trace(cm) / cm.sum() == accuracy(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]))


def test_bad_inputs() -> None:
    with pytest.raises(JobError, match="y_true"):
        accuracy(np.array([0, 1]), np.array([0]))
    with pytest.raises(JobError, match="labels must lie"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(JobError, match="gender"):
        accuracy_by_gender(np.array([0, 1]), np.array([0, 1]), ["male"])


def test_composition() -> None:
    comp = composition(["anger", "anger", "sadness"], ["male", "female", "female"])
    assert comp == {"anger": {"male": 1, "female": 1}, "sadness": {"male": 0, "female": 1}}
