"""Grouped splits by infant (thesis 4.3.4): StratifiedGroupKFold folds or one holdout split, each with a
grouped validation part inside its training part, and the check that no infant is in two parts."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from service.errors import UserError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    index: int
    """1-based."""
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    """Sample indexes, sorted."""


def make_folds(
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    scheme: str,
    folds: int,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    train_only: np.ndarray | None = None,
) -> list[Fold]:
    """Folds over the samples not marked `train_only`; train-only samples join every fitting part (never
    validation or test).

    kfold: StratifiedGroupKFold(folds, shuffled with `seed`). holdout: the first fold of
    StratifiedGroupKFold(round(1 / test_fraction)), i.e. one stratified grouped split (0.25 -> 75/25).
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    train_only = np.zeros(len(labels), bool) if train_only is None else np.asarray(train_only, bool)
    pool = np.flatnonzero(~train_only)
    extra = np.flatnonzero(train_only)
    n_splits = folds if scheme == "kfold" else max(2, round(1 / test_fraction))
    _check_feasible(labels[pool], groups[pool], n_splits, scheme)
    with _quiet_stratification():
        outer = list(grouped_splitter(labels[pool], n_splits, seed).split(pool, labels[pool], groups[pool]))
    if scheme == "holdout":
        outer = outer[:1]
    result = []
    for index, (train_pos, test_pos) in enumerate(outer, start=1):
        # Validation infants come from the evaluated data only; train-only data joins the fitting part.
        fit, validation = validation_split(pool[train_pos], labels, groups, validation_fraction, seed, index)
        result.append(Fold(index, np.sort(np.concatenate([fit, extra])), np.sort(validation), np.sort(pool[test_pos])))
    return result


def _check_feasible(labels: np.ndarray, groups: np.ndarray, n_splits: int, scheme: str) -> None:
    infants = len(np.unique(groups))
    if infants < n_splits:
        what = f"{n_splits} folds" if scheme == "kfold" else f"a 1/{n_splits} holdout split"
        raise UserError(
            f"the evaluated data has {infants} infant(s) but the config asks for {what}: every test part needs "
            f"at least one infant of its own. Lower evaluation.folds (or raise evaluation.test_fraction), or add "
            "infants"
        )
    if len(np.unique(labels)) < 2:
        raise UserError("the evaluated data has one class only; it needs both pain and nonpain crops")


def validation_split(
    train: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int, fold_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) sample indexes: the first fold of StratifiedGroupKFold(round(1 / fraction)).

    With fewer training infants than that, the split count drops to the number of infants (never below 2).
    """
    if fraction == 0:
        return train, np.array([], dtype=int)
    infants = len(np.unique(groups[train]))
    if infants < 2:
        raise UserError(
            f"fold {fold_index}: its training part has {infants} infant(s), too few to hold out validation "
            "infants; add infants, lower evaluation.folds or set evaluation.validation_fraction: 0"
        )
    n_splits = min(max(2, round(1 / fraction)), infants)
    with _quiet_stratification():
        splitter = grouped_splitter(labels[train], n_splits, seed)
        fit_pos, val_pos = next(splitter.split(train, labels[train], groups[train]))
    return train[fit_pos], train[val_pos]


def grouped_splitter(labels: np.ndarray, n_splits: int, seed: int) -> StratifiedGroupKFold | GroupKFold:
    """StratifiedGroupKFold, shuffled with `seed`; GroupKFold when every class has fewer frames than splits
    (sklearn's stratified splitter refuses that case, and there is nothing to stratify anyway)."""
    if np.bincount(labels, minlength=2).max() < n_splits:
        return GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


@contextmanager
def _quiet_stratification() -> Iterator[None]:
    # sklearn warns when a class has fewer frames than splits; with groups, stratification is best effort anyway.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class in y", category=UserWarning)
        yield


def check_leakage(folds: list[Fold], groups: np.ndarray) -> dict[str, Any]:
    """Verify that no infant is in two of train/validation/test of any fold; the report's record of it.

    A failure is a bug in the splitting, not a user error, so it raises RuntimeError.
    """
    groups = np.asarray(groups)
    per_fold = []
    for fold in folds:
        parts = {name: set(groups[getattr(fold, name)]) for name in ("train", "validation", "test")}
        shared = (
            (parts["train"] & parts["validation"])
            | (parts["train"] & parts["test"])
            | (parts["validation"] & parts["test"])
        )
        if shared:
            raise RuntimeError(f"fold {fold.index}: infant(s) in two parts: {sorted(shared)}")
        per_fold.append(
            {
                "fold": fold.index,
                **{f"{name}_infants": len(members) for name, members in parts.items()},
                **{f"{name}_frames": len(getattr(fold, name)) for name in parts},
            }
        )
    return {
        "leakage_check": "passed",
        "rule": "no group (an infant, or every infant whose face comes from one photograph) in two of "
        "train/validation/test",
        "folds": per_fold,
    }
