"""The pool4 feature cache: with blocks 1-4 frozen, their output for an un-augmented crop never changes, so it is
computed once and every epoch runs only block 5 + the head (`block5_head`). With `model.trainable_from: conv5_2`
or `conv5_3` the cache holds the output of the last frozen layer (conv5_1 / conv5_2) instead, and every epoch
runs only the rest.

Trade-off: the features are of un-augmented crops, so augmentation cannot be applied (the config refuses
`cache_pool4` with augmentation on). Memory: (S/16)^2 x 512 floats per crop (401 KB at 224 px).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import keras
import numpy as np

from training.model.architecture import SPLIT_LAYER, feature_extractor
from training.train.data import image_dataset

logger = logging.getLogger(__name__)


def frozen_fingerprint(model: keras.Model) -> str:
    """sha256 over the frozen (non-trainable) weights: a cache made with one model fits another only if equal."""
    digest = hashlib.sha256()
    for weight in model.non_trainable_weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def pool4_features(
    model: keras.Model, paths: Sequence[Path], input_size: int, batch_size: int, split: str = SPLIT_LAYER
) -> np.ndarray:
    """float32 [N, S/16, S/16, 512] block-4 (or `split` layer) features of the un-augmented crops, in `paths` order."""
    extractor = feature_extractor(model, split)
    images = image_dataset(paths, np.zeros(len(paths), int), input_size, batch_size).map(lambda x, _y: x)
    features = np.asarray(extractor.predict(images, verbose=0), dtype=np.float32)
    logger.info(
        "%s cache: %d crops, %s per crop, %.1f MB", split, len(paths), features.shape[1:], features.nbytes / 1e6
    )
    return features


RMS_SAMPLE: Final = 64
"""Crops (evenly spaced over the dataset, labels unused) that set the unit-RMS factor without the cache."""


def rms_sample(count: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, count - 1, num=min(count, RMS_SAMPLE))})


def unit_rms_factor(features: np.ndarray) -> float:
    """1 / RMS of the frozen part's output: the factor that gives the trainable part unit-RMS input."""
    rms = float(np.sqrt(np.mean(np.square(features, dtype=np.float64))))
    return 1.0 / rms if rms > 0 else 1.0


def scale_frozen_output(model: keras.Model, split: str, factor: float) -> None:
    """Multiply the output of the frozen part (`split`) by `factor` > 0, exactly, by scaling the kernel and bias of
    the last convolution at or before it: ReLU and max pooling commute with a positive factor."""
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    names = [layer.name for layer in model.layers]
    for layer in reversed(model.layers[: names.index(split) + 1]):
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([np.asarray(w) * np.float32(factor) for w in layer.get_weights()])
            return
    raise ValueError(f"no convolution at or before {split}")
