"""Metrics: gender accuracies are computed on the right subsets; confusion rows are true classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sercore.errors import JobError
from sercore.metrics import (
    accuracy,
    accuracy_by_gender,
    composition,
    confusion_matrix,
    repaired,
    robust_accuracy,
    robust_union,
    robustness_summary,
    success_on_correct,
)


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


# Eight hand-made samples: 0-3 right before the attack (1 and 3 broken by it), 4-7 wrong before (4 and 5 repaired:
# pushed onto their true class, as an untargeted attack on predicted labels often does).
Y_TRUE = np.array([0, 1, 2, 0, 1, 2, 0, 1])
Y_CLEAN = np.array([0, 1, 2, 0, 0, 0, 1, 2])
Y_ADV = np.array([0, 2, 2, 1, 1, 2, 2, 0])


def test_robust_accuracy_does_not_count_repairs() -> None:
    assert accuracy(Y_TRUE, Y_ADV) == 4 / 8  # the paper's metric: samples 0, 2, 4, 5
    assert robust_accuracy(Y_TRUE, Y_CLEAN, Y_ADV) == 2 / 8  # only 0 and 2 were right before and after
    assert success_on_correct(Y_TRUE, Y_CLEAN, Y_ADV) == 2 / 4
    assert repaired(Y_TRUE, Y_CLEAN, Y_ADV) == 2
    summary = robustness_summary(Y_TRUE, Y_CLEAN, Y_ADV)
    assert summary == {"n": 8, "clean_accuracy": 0.5, "paper_accuracy": 0.5, "robust_accuracy": 0.25,
                       "success_on_correct": 0.5, "repaired": 2, "broken": 2}


def test_robust_accuracy_edge_cases() -> None:
    assert math.isnan(robust_accuracy(np.zeros(0), np.zeros(0), np.zeros(0)))
    assert math.isnan(success_on_correct(np.array([0, 1]), np.array([1, 0]), np.array([0, 1])))  # none right
    with pytest.raises(JobError, match="y_true"):
        robust_accuracy(np.array([0, 1]), np.array([0, 1]), np.array([0]))


def test_robust_union_is_the_worst_case_over_attacks() -> None:
    y_adv = np.stack([Y_ADV, Y_TRUE, np.where(np.arange(8) == 2, 1, Y_TRUE)], axis=1)  # third breaks sample 2
    assert robust_union(Y_TRUE, Y_CLEAN, y_adv).tolist() == [True] + [False] * 7
    assert robust_union(Y_TRUE, Y_CLEAN, Y_TRUE[:, None]).tolist() == (Y_CLEAN == Y_TRUE).tolist()
    with pytest.raises(JobError, match="n samples, k attacks"):
        robust_union(Y_TRUE, Y_CLEAN, Y_ADV)
