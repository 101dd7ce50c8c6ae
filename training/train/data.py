"""tf.data input: dataset.csv crops -> decoded RGB float 0-255 at the model size -> augmentation -> batches.

Randomness is stateless and seeded: shuffling uses a fixed seed, and each element's augmentation draws from a
seeded `Dataset.random` stream that re-randomises every epoch, so a rerun sees the same sequence of images.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from training.data.schema import LABELS
from training.train.config import AugmentationConfig

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


def one_hot(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.eye(len(LABELS), dtype=np.float32)[np.asarray(labels, dtype=int)]


def decode_crop(path: tf.Tensor, size: int) -> tf.Tensor:
    """JPEG/PNG file -> float32 RGB 0-255 [size, size, 3], resized (area) only when it is not that size."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    image = tf.cond(same, lambda: image, lambda: tf.image.resize(image, (size, size), method="area"))
    return tf.ensure_shape(image, (size, size, 3))


def rotation_transform(angle: tf.Tensor, size: int) -> tf.Tensor:
    """The projective transform (output -> input coordinates) of a rotation about the image centre."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    extent = float(size - 1)
    x_offset = (extent - (cos * extent - sin * extent)) / 2.0
    y_offset = (extent - (sin * extent + cos * extent)) / 2.0
    zero = tf.zeros_like(angle)
    return tf.stack([cos, -sin, x_offset, sin, cos, y_offset, zero, zero])[None, :]


def augment(image: tf.Tensor, seed: tf.Tensor, config: AugmentationConfig, size: int) -> tf.Tensor:
    """Flip, rotate within +-rotation_degrees (bilinear, nearest fill) and scale brightness; stateless in `seed`."""
    seeds = tf.random.experimental.stateless_split(tf.stack([seed, tf.constant(0, tf.int64)]), num=3)
    if config.horizontal_flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if config.rotation_degrees > 0:
        limit = math.radians(config.rotation_degrees)
        angle = tf.random.stateless_uniform([], seeds[1], -limit, limit)
        image = tf.raw_ops.ImageProjectiveTransformV3(
            images=image[None],
            transforms=rotation_transform(angle, size),
            output_shape=tf.constant([size, size], tf.int32),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="NEAREST",
        )[0]
    low, high = config.brightness
    if (low, high) != (1.0, 1.0):
        # ImageDataGenerator's brightness_range: multiply, then clip to the pixel range.
        factor = tf.random.stateless_uniform([], seeds[2], low, high)
        image = tf.clip_by_value(image * factor, 0.0, 255.0)
    return image


def image_dataset(
    paths: Sequence[Path],
    labels: Sequence[int] | np.ndarray,
    input_size: int,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augmentation: AugmentationConfig | None = None,
    augment_seed: int = 0,
) -> tf.data.Dataset:
    """(images [B, S, S, 3] float 0-255, one-hot labels [B, 2]) batches; shuffled/augmented when asked."""
    dataset = tf.data.Dataset.from_tensor_slices(([str(p) for p in paths], one_hot(labels)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.map(
        lambda path, label: (decode_crop(path, input_size), label), num_parallel_calls=AUTOTUNE, deterministic=True
    )
    if augmentation is not None and augmentation.enabled:
        # One seed per element, new every epoch, the same on every rerun.
        randoms = tf.data.Dataset.random(seed=augment_seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip((dataset, randoms)).map(
            lambda pair, seed: (augment(pair[0], seed, augmentation, input_size), pair[1]),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def feature_dataset(
    features: np.ndarray, labels: Sequence[int] | np.ndarray, batch_size: int, *, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """(cached pool4 features, one-hot labels) batches for training block 5 + head."""
    dataset = tf.data.Dataset.from_tensor_slices((features, one_hot(labels)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(features), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def load_images(paths: Sequence[Path], input_size: int, batch_size: int = 32) -> np.ndarray:
    """Un-augmented crops as float32 [N, S, S, 3], decoded by the same function the training input uses."""
    dataset = image_dataset(paths, np.zeros(len(paths), int), input_size, batch_size)
    batches = [images.numpy() for images, _ in dataset]
    return np.concatenate(batches) if batches else np.zeros((0, input_size, input_size, 3), np.float32)
