"""Agreement statistics, implemented from their definitions (the service does not depend on scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counting half
    (the Mann-Whitney U statistic / (n_pos * n_neg)). None when either class is absent."""
    if len(scores) != len(positives):
        raise ValueError(f"{len(scores)} scores but {len(positives)} labels")
    values = np.asarray(scores, dtype=np.float64)
    is_pos = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    i = 0
    while i < len(values):  # average ranks over ties (1-based)
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = float(ranks[is_pos].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def weighted_kappa(
    first: Sequence[int],
    second: Sequence[int],
    categories: Sequence[int],
    weights: Literal["linear", "quadratic"] = "linear",
) -> float | None:
    """Cohen's weighted kappa of two ratings of the same items: 1 - sum(w * observed) / sum(w * expected), where
    observed is the joint distribution, expected the product of the two marginals, and w = |i - j| (linear) or
    (i - j)^2 (quadratic) over the positions of the categories. With `categories` the scale's full range (DAN
    0-4, FLACC 0-2) the weights are score differences; this equals scikit-learn's
    `cohen_kappa_score(first, second, labels=categories, weights=...)`. None when it is undefined (no items, or
    no disagreement is possible by chance, e.g. both ratings always use one and the same category)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} ratings against {len(second)}")
    index = {c: i for i, c in enumerate(categories)}
    unknown = sorted({v for v in (*first, *second) if v not in index})
    if unknown:
        raise ValueError(f"ratings {unknown} are not among the categories {list(categories)}")
    if not first:
        return None
    k = len(categories)
    observed = np.zeros((k, k), dtype=np.float64)
    for a, b in zip(first, second, strict=True):
        observed[index[a], index[b]] += 1.0
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    grid = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(np.float64)
    w = grid if weights == "linear" else grid**2
    chance = float((w * expected).sum())
    if chance <= 1e-12:
        return None
    return 1.0 - float((w * observed).sum()) / chance
