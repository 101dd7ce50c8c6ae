"""`painwatch train`: datasets -> grouped folds -> one model per fold -> metrics, checkpoints and the report.

Everything a user can get wrong (config, dataset files, classes, infants vs folds, weights file) is checked
before the first epoch. `results.json` is written last and atomically: a RUN_DIR without it is unfinished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.data.schema import LABELS
from training.model.architecture import block5_head, build_model, split_layer
from training.model.checkpoint import load_checkpoint, save_checkpoint
from training.model.weights import backbone_source, load_backbone_weights
from training.train import cache, explain, report, standardize
from training.train.config import TrainConfig, config_summary
from training.train.data import feature_dataset, image_dataset
from training.train.fit import FitResult, fit
from training.train.metrics import binary_metrics, confusion, summarise
from training.train.plan import RESULTS_FILE, Plan
from training.train.splits import Fold, validation_split

logger = logging.getLogger(__name__)

RANDOM_INIT_WARNING = (
    "no --backbone-weights given: the VGG-Face base was trained from random initialisation, so the frozen "
    "blocks 1-4 are random features; results are not comparable with the thesis"
)
GENERIC_BASE_WARNING = (
    "the base is a generic (non-face) pretrained VGG-16, not VGG-Face: {source}; results are not comparable "
    "with the thesis"
)


def backbone_warnings(weights: Path | None) -> list[str]:
    if weights is None:
        return [RANDOM_INIT_WARNING]
    source = backbone_source(weights)
    if source is not None:
        return [GENERIC_BASE_WARNING.format(source=source)]
    return []


@dataclass
class FoldOutcome:
    fold: Fold
    fit: FitResult
    metrics: dict[str, float]
    confusion: dict[str, int]
    y_true: np.ndarray
    pain_prob: np.ndarray
    examples: list[explain.CamExample] = field(default_factory=list)
    mask_shares: list[tuple[float, float]] = field(default_factory=list)
    cue_shares: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _new_model(config: TrainConfig) -> keras.Model:
    m = config.model
    return build_model(
        input_size=m.input_size, l1=m.l1, dropout=m.dropout, seed=config.seed, trainable_from=m.trainable_from
    )


def _split(config: TrainConfig) -> str:
    return split_layer(config.model.trainable_from)


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and TF, and make TF ops deterministic (same numbers on CPU on every rerun).

    Op determinism is process-wide, so it is switched back off afterwards when it was off before (the
    trainer may run inside a longer process, e.g. a test session).
    """
    from tensorflow.python.framework import config as tf_config  # the switch-off lives in the private API

    keras.utils.set_random_seed(seed)
    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            tf_config.disable_op_determinism()


def execute(plan: Plan) -> dict[str, Any]:
    """Train every fold, save checkpoints, write the report; returns the results dict (also results.json)."""
    config, run_dir = plan.config, plan.run_dir
    if plan.backbone_weights is not None:
        # A bad weights file must fail before anything is written.
        load_backbone_weights(_new_model(config), plan.backbone_weights)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RESULTS_FILE).unlink(missing_ok=True)  # --overwrite: never leave an old "finished" marker
    warnings = backbone_warnings(plan.backbone_weights)
    for warning in warnings:
        logger.warning(warning)
    with deterministic(config.seed):
        return _execute(plan, warnings)


def _execute(plan: Plan, warnings: list[str]) -> dict[str, Any]:
    run_dir = plan.run_dir
    started = time.perf_counter()
    features, fingerprint = _maybe_cache(plan)
    outcomes = []
    for fold in plan.folds:
        outcome, model = _run_fold(plan, fold, features, fingerprint)
        outcomes.append(outcome)
        _save_fold(plan, outcome, model, warnings)
        del model  # one fold's model in memory at a time
    summary = summarise([o.metrics for o in outcomes])
    final = _save_final(plan, outcomes, summary, features, fingerprint, warnings)
    results = report.build_results(plan, outcomes, summary, final, warnings, time.perf_counter() - started)
    report.write_predictions(run_dir / "predictions.csv", plan, outcomes)
    report.write_report(run_dir, results, outcomes)
    report.write_results(run_dir / RESULTS_FILE, results)  # last: marks the run as complete
    return results


def _maybe_cache(plan: Plan) -> tuple[np.ndarray | None, str | None]:
    config = plan.config
    size, batch, split = config.model.input_size, config.training.batch_size, _split(config)
    if not config.training.cache_pool4:
        if config.training.unit_rms_features:
            sample = [plan.paths[i] for i in cache.rms_sample(len(plan.paths))]
            plan.feature_scale = cache.unit_rms_factor(
                cache.pool4_features(_fold_model(plan), sample, size, batch, split)
            )
            logger.info("unit-RMS features: %s output scaled by %.4g", split, plan.feature_scale)
        return None, None
    feats = cache.pool4_features(_fold_model(plan), plan.paths, size, batch, split=split)
    if config.training.unit_rms_features:
        plan.feature_scale = cache.unit_rms_factor(feats)
        feats *= np.float32(plan.feature_scale)
        logger.info("unit-RMS features: %s output scaled by %.4g", split, plan.feature_scale)
    return feats, cache.frozen_fingerprint(_fold_model(plan))


def _fold_model(plan: Plan) -> keras.Model:
    keras.backend.clear_session()
    model = _new_model(plan.config)
    if plan.backbone_weights is not None:
        load_backbone_weights(model, plan.backbone_weights)
    if plan.feature_scale is not None:
        cache.scale_frozen_output(model, _split(plan.config), plan.feature_scale)
    return model


def _run_fold(
    plan: Plan, fold: Fold, features: np.ndarray | None, fingerprint: str | None
) -> tuple[FoldOutcome, keras.Model]:
    labels = plan.labels
    label = f"fold {fold.index}/{len(plan.folds)}"
    logger.info(
        "%s: %d train, %d validation, %d test crops", label, len(fold.train), len(fold.validation), len(fold.test)
    )
    model = _fold_model(plan)
    result = _train(plan, model, fold.train, fold.validation, features, fingerprint, label, fold.index)
    pain_prob = _predict(plan, model, fold.test, features)
    y_true = labels[fold.test]
    metrics = binary_metrics(y_true, pain_prob)
    logger.info("%s: %s", label, " ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    outcome = FoldOutcome(fold, result, metrics, confusion(y_true, pain_prob >= 0.5), y_true, pain_prob)
    _explain(plan, model, outcome)
    return outcome, model


def _train(
    plan: Plan,
    model: keras.Model,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    features: np.ndarray | None,
    fingerprint: str | None,
    label: str,
    fold_index: int,
) -> FitResult:
    config, labels, paths = plan.config, plan.labels, plan.paths
    size, batch = config.model.input_size, config.training.batch_size
    shuffle_seed = config.seed + fold_index
    if features is not None:
        if cache.frozen_fingerprint(model) != fingerprint:
            raise RuntimeError("pool4 cache does not match this model's frozen weights")
        train_ds = feature_dataset(features[train_idx], labels[train_idx], batch, shuffle_seed=shuffle_seed)
        val_ds = feature_dataset(features[val_idx], labels[val_idx], batch) if len(val_idx) else None
        stats_ds = feature_dataset(features[train_idx], labels[train_idx], batch).map(lambda x, _y: x)
        head = block5_head(model, _split(config))
        return _fit(head, train_ds, val_ds, stats_ds, labels[train_idx], config, label)
    aug = config.augmentation
    train_ds = image_dataset(
        [paths[i] for i in train_idx],
        labels[train_idx],
        size,
        batch,
        shuffle_seed=shuffle_seed,
        augmentation=aug,
        augment_seed=shuffle_seed,
    )
    val_ds = None
    if len(val_idx):
        val_aug = aug if aug.apply_to_validation else None
        val_ds = image_dataset(
            [paths[i] for i in val_idx], labels[val_idx], size, batch, augmentation=val_aug, augment_seed=-shuffle_seed
        )
    stats_ds = image_dataset([paths[i] for i in train_idx], labels[train_idx], size, batch).map(lambda x, _y: x)
    return _fit(model, train_ds, val_ds, stats_ds, labels[train_idx], config, label)


def _fit(
    net: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | None,
    stats_ds: tf.data.Dataset,
    train_labels: np.ndarray,
    config: TrainConfig,
    label: str,
) -> FitResult:
    """`fit`, or with training.standardize_head_input: fit with the GAP features standardised (statistics of the
    un-augmented training crops), then fold the standardisation into fc1 (`standardize.py`)."""
    if not config.training.standardize_head_input:
        return fit(net, train_ds, val_ds, train_labels, config, label)
    mean, std = standardize.gap_statistics(net, stats_ds)
    result = fit(standardize.with_standardized_gap(net, mean, std), train_ds, val_ds, train_labels, config, label)
    standardize.fold_into_fc1(net, mean, std)
    return result


def _predict(plan: Plan, model: keras.Model, test_idx: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    batch = plan.config.training.batch_size
    if features is not None:
        head = block5_head(model, _split(plan.config))
        probs = head.predict(feature_dataset(features[test_idx], plan.labels[test_idx], batch), verbose=0)
    else:
        test_paths = [plan.paths[i] for i in test_idx]
        test_ds = image_dataset(test_paths, plan.labels[test_idx], plan.config.model.input_size, batch)
        probs = model.predict(test_ds, verbose=0)
    return np.asarray(probs)[:, LABELS.index("pain")].astype(np.float64)


def _explain(plan: Plan, model: keras.Model, outcome: FoldOutcome) -> None:
    test = outcome.fold.test
    paths = [plan.paths[i] for i in test]
    size = plan.config.model.input_size
    outcome.examples = explain.cam_examples(
        model, outcome.fold.index, paths, outcome.y_true, outcome.pain_prob, size, plan.config.report.gradcam_per_group
    )
    masked = [plan.samples[i] for i in test if plan.samples[i].label == 1 and plan.samples[i].mask_path is not None]
    masked = masked[: plan.config.report.mask_share_max_crops]
    outcome.mask_shares, outcome.cue_shares = explain.all_mask_shares(
        model,
        [s.path for s in masked],
        [s.mask_path for s in masked if s.mask_path is not None],
        [s.cue_mask_path for s in masked],
        size,
    )


def checkpoint_info(plan: Plan, extra: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    config = plan.config
    return {
        "experiment": config.experiment,
        "datasets": [d.as_dict() for d in plan.datasets],
        "hyperparameters": config_summary(config),
        "input_size": config.model.input_size,
        "backbone_weights": str(plan.backbone_weights) if plan.backbone_weights else None,
        "cache_pool4": config.training.cache_pool4,
        "demo": plan.demo,
        "warnings": warnings,
        "command": plan.command,
        **extra,
    }


def _save_fold(plan: Plan, outcome: FoldOutcome, model: keras.Model, warnings: list[str]) -> None:
    info = checkpoint_info(
        plan,
        {
            "fold": outcome.fold.index,
            "fold_metrics": report.clean(outcome.metrics),
            "kept_epoch": outcome.fit.kept_epoch,
            "epochs_run": outcome.fit.epochs_run,
        },
        warnings,
    )
    m = plan.config.model
    save_checkpoint(model, plan.run_dir / f"fold_{outcome.fold.index}", info, l1=m.l1, dropout=m.dropout)


def best_fold(outcomes: list[FoldOutcome]) -> tuple[FoldOutcome, str]:
    """The fold with the highest best-validation accuracy (no test data in the choice); else test accuracy."""
    if all(o.fit.best_val_accuracy is not None for o in outcomes):
        return max(outcomes, key=lambda o: o.fit.best_val_accuracy or 0.0), "highest validation accuracy"
    return max(outcomes, key=lambda o: o.metrics["accuracy"]), "highest test accuracy (no validation split)"


def _save_final(
    plan: Plan,
    outcomes: list[FoldOutcome],
    summary: dict[str, Any],
    features: np.ndarray | None,
    fingerprint: str | None,
    warnings: list[str],
) -> dict[str, Any]:
    config, target = plan.config, plan.run_dir / "final"
    cv = report.clean(summary)
    if config.evaluation.final_model == "retrain_all":
        model = _retrain_all(plan, features, fingerprint)
        chosen = {"final_model": "retrained on all data", "cv_metrics": cv}
    else:
        best, why = best_fold(outcomes)
        model = load_checkpoint(plan.run_dir / f"fold_{best.fold.index}").model
        chosen = {"final_model": f"fold {best.fold.index} ({why})", "source_fold": best.fold.index, "cv_metrics": cv}
    save_checkpoint(
        model, target, checkpoint_info(plan, chosen, warnings), l1=config.model.l1, dropout=config.model.dropout
    )
    return {"folder": str(target), **{k: v for k, v in chosen.items() if k != "cv_metrics"}}


def _retrain_all(plan: Plan, features: np.ndarray | None, fingerprint: str | None) -> keras.Model:
    train_only = set(plan.config.evaluation.train_only_datasets)
    evaluated = np.array([i for i, s in enumerate(plan.samples) if s.dataset not in train_only])
    extra = np.array([i for i, s in enumerate(plan.samples) if s.dataset in train_only], dtype=int)
    groups = np.array([s.group for s in plan.samples])
    fit_idx, val_idx = validation_split(
        evaluated, plan.labels, groups, plan.config.evaluation.validation_fraction, plan.config.seed, 0
    )
    fit_idx = np.sort(np.concatenate([fit_idx, extra]))  # train-only data never validates, as in the folds
    model = _fold_model(plan)
    _train(plan, model, fit_idx, val_idx, features, fingerprint, "final (all data)", 0)
    return model
