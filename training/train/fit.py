"""Fitting one model (thesis 4.3.3): Adam, categorical cross-entropy, balanced class weights, early stopping
on the validation loss, and the best-validation-accuracy (or last-epoch) weights kept."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.train.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    kept_epoch: int = 0
    """1-based epoch whose weights the model holds after fitting."""
    best_val_accuracy: float | None = None
    seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """n / (n_classes * n_c), as scikit-learn's compute_class_weight("balanced"), on the training part."""
    labels = np.asarray(labels, dtype=int)
    counts = np.bincount(labels, minlength=2)
    return {c: float(len(labels) / (len(counts) * n)) if n else 0.0 for c, n in enumerate(counts)}


class KeepBestValAccuracy(keras.callbacks.Callback):
    """Remembers the trainable weights of the epoch with the highest val_accuracy (first one on ties) and
    restores them when training ends. Only trainable weights change, so only those are copied."""

    def __init__(self) -> None:
        super().__init__()
        self.best: float = -np.inf
        self.best_epoch = 0
        self._weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is not None and float(value) > self.best:
            self.best, self.best_epoch = float(value), epoch + 1
            self._weights = [v.numpy() for v in self.model.trainable_variables]

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._weights is not None:
            for variable, value in zip(self.model.trainable_variables, self._weights, strict=True):
                variable.assign(value)


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch: fold, epoch, losses, accuracies and seconds."""

    def __init__(self, label: str, epochs: int) -> None:
        super().__init__()
        self.label, self.epochs = label, epochs
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        shown = " ".join(f"{k} {float(v):.4f}" for k, v in sorted((logs or {}).items()) if k != "learning_rate")
        logger.info("%s epoch %d/%d: %s (%.1f s)", self.label, epoch + 1, self.epochs, shown, self.seconds[-1])


def compile_model(model: keras.Model, config: TrainConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.optimizer.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    train_labels: np.ndarray,
    config: TrainConfig,
    label: str,
) -> FitResult:
    """Compile and fit `model` (the full model, or block 5 + head on cached features) in place."""
    compile_model(model, config)
    epochs = config.training.max_epochs
    log = EpochLog(label, epochs)
    callbacks: list[keras.callbacks.Callback] = [log]
    keep_best = None
    if validation is not None and config.training.early_stopping.enabled:
        es = config.training.early_stopping
        callbacks.append(keras.callbacks.EarlyStopping(monitor=es.monitor, patience=es.patience, mode="min"))
    if validation is not None and config.training.keep_weights == "best_val_accuracy":
        keep_best = KeepBestValAccuracy()
        callbacks.append(keep_best)
    class_weight = balanced_class_weights(train_labels) if config.training.class_weights == "balanced" else None
    start = time.perf_counter()
    history = model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,  # the tf.data pipeline shuffles (seeded)
    )
    seconds = time.perf_counter() - start
    values = {k: [float(x) for x in v] for k, v in history.history.items()}
    epochs_run = len(values.get("loss", []))
    kept = keep_best.best_epoch if keep_best is not None and keep_best.best_epoch else epochs_run
    best_val = keep_best.best if keep_best is not None and keep_best.best_epoch else None
    return FitResult(values, epochs_run, kept, best_val, seconds, log.seconds)
