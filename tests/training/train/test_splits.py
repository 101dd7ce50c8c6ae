"""Grouped splits: property tests (no infant in two parts; class ratio kept when feasible) and user errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.errors import UserError
from training.train.splits import check_leakage, make_folds


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    folds = draw(st.integers(2, 6))
    infants = draw(st.integers(2 * folds, 30))
    labels, groups = [], []
    for infant in range(infants):
        frames = draw(st.lists(st.integers(0, 1), min_size=1, max_size=12))
        labels += frames
        groups += [f"baby{infant}"] * len(frames)
    labels[0], labels[-1] = 0, 1  # both classes present
    return np.array(labels), np.array(groups), folds


@settings(max_examples=60, deadline=None)
@given(cohorts(), st.integers(0, 10_000), st.sampled_from([0.0, 0.2, 0.34]))
def test_no_infant_in_two_parts_and_every_sample_tested_once(
    cohort: tuple[np.ndarray, np.ndarray, int], seed: int, val_fraction: float
) -> None:
    labels, groups, k = cohort
    try:
        folds = make_folds(
            labels, groups, scheme="kfold", folds=k, test_fraction=0.25, validation_fraction=val_fraction, seed=seed
        )
    except UserError as exc:  # a legitimately infeasible draw: a training part left with one infant
        assert "too few to hold out validation infants" in str(exc)
        assume(False)
    assert len(folds) == k
    check = check_leakage(folds, groups)
    assert check["leakage_check"] == "passed"
    for fold in folds:
        parts = [set(groups[fold.train]), set(groups[fold.validation]), set(groups[fold.test])]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(fold.train) + len(fold.validation) + len(fold.test) == len(labels)
        assert (len(fold.validation) > 0) == (val_fraction > 0)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested) == list(range(len(labels)))  # each sample is tested exactly once


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), st.integers(0, 10_000))
def test_class_ratio_per_fold_equals_global_when_feasible(
    k: int, per_group: int, pain: int, extra_infants: int, seed: int
) -> None:
    # Every infant has the same pain/nonpain mix: any grouped split keeps the global ratio exactly.
    infants = 2 * k + extra_infants  # every training part keeps >= 2 infants for the validation split
    labels = np.array(([1] * pain + [0] * per_group) * infants)
    groups = np.repeat([f"b{i}" for i in range(infants)], pain + per_group)
    folds = make_folds(labels, groups, scheme="kfold", folds=k, test_fraction=0.25, validation_fraction=0.2, seed=seed)
    ratio = labels.mean()
    for fold in folds:
        assert labels[fold.test].mean() == pytest.approx(ratio)
        assert labels[fold.train].mean() == pytest.approx(ratio)


def test_single_class_infants_are_stratified_across_folds() -> None:
    # 10 pain-only and 10 nonpain-only infants, 5 folds: each test fold gets 2 of each.
    labels = np.repeat([1] * 10 + [0] * 10, 3)
    groups = np.repeat([f"b{i}" for i in range(20)], 3)
    folds = make_folds(labels, groups, scheme="kfold", folds=5, test_fraction=0.25, validation_fraction=0.2, seed=3)
    for fold in folds:
        assert labels[fold.test].mean() == pytest.approx(0.5)


def test_holdout_is_one_grouped_75_25_split_and_train_only_data_stays_in_training() -> None:
    labels = np.tile([0, 1], 40)
    groups = np.repeat([f"b{i}" for i in range(20)], 4)
    extra = np.zeros(80, bool)
    extra[-16:] = True  # the last 4 infants: a train-only dataset
    folds = make_folds(
        labels, groups, scheme="holdout", folds=5, test_fraction=0.25, validation_fraction=0.2, seed=1,
        train_only=extra,
    )  # fmt: skip
    assert len(folds) == 1
    fold = folds[0]
    assert len(set(groups[fold.test])) == 4  # 16 evaluated infants, a quarter tested
    assert set(np.flatnonzero(extra)) <= set(fold.train)
    assert not set(np.flatnonzero(extra)) & (set(fold.validation) | set(fold.test))
    assert len(set(groups[fold.validation])) >= 2  # ~20% of the 12 evaluated training infants


def test_same_seed_same_folds() -> None:
    rng = np.random.default_rng(0)
    labels, groups = rng.integers(0, 2, 200), rng.integers(0, 25, 200).astype(str)
    a, b = (make_folds(labels, groups, scheme="kfold", folds=5, test_fraction=0.25, validation_fraction=0.2, seed=9)
            for _ in range(2))  # fmt: skip
    for x, y in zip(a, b, strict=True):
        assert (x.train == y.train).all() and (x.validation == y.validation).all() and (x.test == y.test).all()


def test_infeasible_splits_are_user_errors() -> None:
    labels, groups = np.array([0, 1, 0, 1]), np.array(["a", "a", "b", "c"])
    with pytest.raises(UserError, match=r"3 infant\(s\) but the config asks for 5 folds"):
        make_folds(labels, groups, scheme="kfold", folds=5, test_fraction=0.25, validation_fraction=0.2, seed=0)
    with pytest.raises(UserError, match="one class only"):
        make_folds(np.zeros(4, int), groups, scheme="kfold", folds=2, test_fraction=0.25, validation_fraction=0, seed=0)
    with pytest.raises(UserError, match=r"fold 1: its training part has 1 infant\(s\)"):
        make_folds(labels[:3], groups[:3], scheme="kfold", folds=2, test_fraction=0.25, validation_fraction=0.2, seed=0)
