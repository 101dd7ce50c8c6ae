"""Standardised head input while fitting, folded into `fc1` afterwards: the same model, better conditioned.

Measured on the synthetic demo (README, `training/configs/demo.yaml`): with a randomly initialised base the
global-average-pooled conv5_3 features are nearly the same for every crop (a large common part, a small
varying part), and Adam on the raw features did not fit even the training crops in 20 epochs (training accuracy
0.5-0.6 at lr 1e-4 to 1e-3; at 1e-3 the ReLUs died). With `training.standardize_head_input: true` the trainer
computes the per-channel mean and standard deviation of the GAP features on the fold's training crops (before
fitting, fixed), fits the model with a fixed `Normalization` layer between `gap` and `fc1`, and then folds it
into fc1's weights: fc1(W (g - m) / s + b) = fc1((W / s) g + (b - (m / s) W)). The exported model has the
thesis layout and no extra layer, and its outputs equal the standardised model's.
"""

from __future__ import annotations

from typing import Final

import keras
import numpy as np
import tensorflow as tf

from training.model.architecture import HIDDEN_1

GAP: Final = "gap"
NORMALIZATION: Final = "gap_standardize"
STD_FLOOR: Final = 0.1
"""A channel's standard deviation is at least this share of the mean one. Nearly constant channels carry
little information, and a tiny divisor makes the folded fc1 kernel and bias huge and nearly cancelling: with a
floor of 1e-3 the demo model's float16-weights export moved its Grad-CAM maps by 0.03-0.04 (limit 0.02)."""


def gap_statistics(model: keras.Model, inputs: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (floored) standard deviation of `model`'s GAP output over `inputs` batches."""
    values = np.asarray(_up_to_gap(model).predict(inputs, verbose=0), dtype=np.float64)
    mean, std = values.mean(axis=0), values.std(axis=0)
    std = np.maximum(std, STD_FLOOR * max(float(std.mean()), 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def _up_to_gap(model: keras.Model) -> keras.Model:
    # Replayed, not `get_layer(GAP).output`: the layers are shared with the full model, whose tensors those are.
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), name="gap_statistics_input")
    x = inputs
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        x = layer(x)
        if layer.name == GAP:
            return keras.Model(inputs, x)
    raise ValueError(f"{model.name} has no `{GAP}` layer")


def with_standardized_gap(model: keras.Model, mean: np.ndarray, std: np.ndarray) -> keras.Model:
    """`model` (a plain layer chain) with a fixed Normalization after `gap`; shares every other layer."""
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), name="standardized_input")
    x = inputs
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        x = layer(x)
        if layer.name == GAP:
            x = keras.layers.Normalization(mean=mean, variance=np.square(std), name=NORMALIZATION)(x)
    return keras.Model(inputs, x, name=f"{model.name}_standardized")


def fold_into_fc1(model: keras.Model, mean: np.ndarray, std: np.ndarray) -> None:
    """Fold the standardisation into fc1 in place: W' = W / s (per input row), b' = b - (m / s) W."""
    layer = model.get_layer(HIDDEN_1)
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
    scale = 1.0 / np.asarray(std, dtype=np.float64)
    new_kernel = kernel * scale[:, None]
    new_bias = bias - (np.asarray(mean, dtype=np.float64) * scale) @ kernel
    layer.set_weights([new_kernel.astype(np.float32), new_bias.astype(np.float32)])
