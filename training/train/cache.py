"""The pool4 feature cache: with blocks 1-4 frozen, their output for an un-augmented crop never changes, so it is
computed once and every epoch runs only block 5 + the head (`block5_head`).

Trade-off: the features are of un-augmented crops, so augmentation cannot be applied (the config refuses
`cache_pool4` with augmentation on). Memory: (S/16)^2 x 512 floats per crop (401 KB at 224 px).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from training.model.architecture import feature_extractor
from training.train.data import image_dataset

logger = logging.getLogger(__name__)


def frozen_fingerprint(model: keras.Model) -> str:
    """sha256 over the frozen (non-trainable) weights: a cache made with one model fits another only if equal."""
    digest = hashlib.sha256()
    for weight in model.non_trainable_weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def pool4_features(model: keras.Model, paths: Sequence[Path], input_size: int, batch_size: int) -> np.ndarray:
    """float32 [N, S/16, S/16, 512] block-4 features of the un-augmented crops, in `paths` order."""
    extractor = feature_extractor(model)
    images = image_dataset(paths, np.zeros(len(paths), int), input_size, batch_size).map(lambda x, _y: x)
    features = np.asarray(extractor.predict(images, verbose=0), dtype=np.float32)
    logger.info("pool4 cache: %d crops, %s per crop, %.1f MB", len(paths), features.shape[1:], features.nbytes / 1e6)
    return features
