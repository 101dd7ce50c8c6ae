"""Metrics against scikit-learn, pain = positive class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from training.train.metrics import binary_metrics, confusion, summarise


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 60)
    prob = np.clip(y_true * 0.3 + rng.uniform(0, 0.7, 60), 0, 1)
    y_pred = (prob >= 0.5).astype(int)
    m = binary_metrics(y_true, prob)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["precision"] == pytest.approx(precision_score(y_true, y_pred, zero_division=0))
    assert m["recall"] == pytest.approx(recall_score(y_true, y_pred))
    assert m["specificity"] == pytest.approx(recall_score(1 - y_true, 1 - y_pred))
    assert m["f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y_true, prob))


def test_hand_counted_case_and_edge_cases() -> None:
    y_true = np.array([1, 1, 1, 0, 0])
    prob = np.array([0.9, 0.6, 0.2, 0.7, 0.1])
    assert confusion(y_true, prob >= 0.5) == {"tn": 1, "fp": 1, "fn": 1, "tp": 2}
    m = binary_metrics(y_true, prob)
    assert (m["accuracy"], m["precision"], m["recall"], m["specificity"]) == (0.6, 2 / 3, 2 / 3, 0.5)
    one_class = binary_metrics(np.array([0, 0]), np.array([0.2, 0.7]))
    assert math.isnan(one_class["roc_auc"]) and one_class["precision"] == 0.0 and one_class["f1"] == 0.0


def test_summary_is_mean_and_population_std_ignoring_undefined() -> None:
    folds = [
        {"accuracy": 0.8, "precision": 1, "recall": 1, "specificity": 1, "f1": 0.5, "roc_auc": 0.9},
        {"accuracy": 0.6, "precision": 1, "recall": 1, "specificity": 1, "f1": 0.7, "roc_auc": math.nan},
    ]
    s = summarise(folds)
    assert s["accuracy"]["mean"] == pytest.approx(0.7) and s["accuracy"]["std"] == pytest.approx(0.1)
    assert s["roc_auc"] == {"mean": 0.9, "std": 0.0, "n": 1}
