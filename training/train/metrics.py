"""Binary metrics with pain (class 1) as the positive class, per fold and as mean +- std over folds."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from sklearn.metrics import roc_auc_score

METRICS: Final = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc")
"""Table order. recall is the sensitivity."""


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    """tn, fp, fn, tp with pain = 1 positive."""
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    return {
        "tn": int(np.sum((y_true == 0) & (y_pred == 0))),
        "fp": int(np.sum((y_true == 0) & (y_pred == 1))),
        "fn": int(np.sum((y_true == 1) & (y_pred == 0))),
        "tp": int(np.sum((y_true == 1) & (y_pred == 1))),
    }


def _ratio(num: int, den: int) -> float:
    # An empty denominator (e.g. no predicted pain) scores 0, as scikit-learn's zero_division=0 does.
    return num / den if den else 0.0


def binary_metrics(y_true: np.ndarray, pain_prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """accuracy, precision, recall, specificity, F1 (at `threshold` on the pain probability) and ROC-AUC.

    ROC-AUC is NaN when the test part holds one class only (undefined).
    """
    y_true = np.asarray(y_true).astype(int)
    pain_prob = np.asarray(pain_prob, dtype=np.float64)
    c = confusion(y_true, (pain_prob >= threshold).astype(int))
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    return {
        "accuracy": _ratio(c["tp"] + c["tn"], len(y_true)),
        "precision": precision,
        "recall": recall,
        "specificity": _ratio(c["tn"], c["tn"] + c["fp"]),
        "f1": _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]),
        "roc_auc": float(roc_auc_score(y_true, pain_prob)) if len(np.unique(y_true)) == 2 else math.nan,
    }


def summarise(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float | int]]:
    """Per metric: mean and std over folds (population std, ddof=0), ignoring undefined (NaN) folds.

    `n` says how many folds the value rests on.
    """
    summary: dict[str, dict[str, float | int]] = {}
    for name in METRICS:
        values = np.array([fold[name] for fold in per_fold], dtype=np.float64)
        defined = values[~np.isnan(values)]
        summary[name] = {
            "mean": float(defined.mean()) if defined.size else math.nan,
            "std": float(defined.std()) if defined.size else math.nan,
            "n": int(defined.size),
        }
    return summary
