"""ROC-AUC and weighted kappa from their definitions: hand-worked values, and scikit-learn where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from service.evaluation.metrics import roc_auc, weighted_kappa
from tests.support.ci import require_or_skip


def test_roc_auc_hand_values() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    # one positive (0.5) against negatives 0.2, 0.5 (tie: half), 0.7 -> (1 + 0.5 + 0) / 3
    assert roc_auc([0.2, 0.5, 0.7, 0.5], [False, False, False, True]) == pytest.approx(0.5)
    assert roc_auc([0.3, 0.1, 0.4, 0.35], [False, True, False, True]) == pytest.approx(0.25)
    assert roc_auc([0.1, 0.2], [True, True]) is None


def test_weighted_kappa_hand_values() -> None:
    assert weighted_kappa([0, 2, 3, 4], [0, 2, 3, 4], range(5)) == 1.0
    # truth (0, 4) vs estimate (4, 0): observed mean |diff| = 4, expected mean |diff| = (0 + 4 + 4 + 0) / 4 = 2
    assert weighted_kappa([0, 4], [4, 0], range(5)) == pytest.approx(1 - 4 / 2)
    # observed: (0,0) (2,3) (4,4) -> mean |diff| 1/3; expected over {0,2,4} x {0,3,4}: 2 * (9 + 3 + 7)... by hand:
    # |0-0|+|0-3|+|0-4| + |2-0|+|2-3|+|2-4| + |4-0|+|4-3|+|4-4| = 7 + 5 + 5 = 17, /9
    assert weighted_kappa([0, 2, 4], [0, 3, 4], range(5)) == pytest.approx(1 - (1 / 3) / (17 / 9))
    # quadratic: observed 1/3; expected (0+9+16 + 4+1+4 + 16+1+0) / 9 = 51 / 9
    assert weighted_kappa([0, 2, 4], [0, 3, 4], range(5), "quadratic") == pytest.approx(1 - (1 / 3) / (51 / 9))
    assert weighted_kappa([3, 3], [3, 3], range(5)) is None  # no disagreement possible by chance
    assert weighted_kappa([], [], range(5)) is None
    with pytest.raises(ValueError, match="not among the categories"):
        weighted_kappa([5], [0], range(5))


def test_agrees_with_scikit_learn() -> None:
    try:
        from sklearn import metrics
    except ImportError:
        require_or_skip("scikit-learn comes with the training extra (`make` installs it)")
    rng = np.random.default_rng(7)
    for _ in range(100):
        n = int(rng.integers(3, 60))
        a = rng.integers(0, 5, n)
        b = np.clip(a + rng.integers(-2, 3, n), 0, 4)
        for weights in ("linear", "quadratic"):
            ours = weighted_kappa(a.tolist(), b.tolist(), range(5), weights)
            theirs = metrics.cohen_kappa_score(a, b, labels=list(range(5)), weights=weights)
            if ours is not None:
                assert ours == pytest.approx(theirs, abs=1e-12)
        scores, labels = rng.integers(0, 6, n) / 5.0, rng.random(n) < 0.4
        if labels.any() and not labels.all():
            assert roc_auc(scores.tolist(), labels.tolist()) == pytest.approx(metrics.roc_auc_score(labels, scores))
