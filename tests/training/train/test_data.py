"""tf.data input and the pool4 cache: decoding, seeded augmentation, cached features == the full model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.model.architecture import block5_head, build_model
from training.train.cache import frozen_fingerprint, pool4_features
from training.train.config import load_config
from training.train.data import image_dataset, load_images, rotation_transform
from training.train.datasets import load_datasets


@pytest.fixture
def crops(make_dataset) -> tuple[list[Path], np.ndarray]:  # type: ignore[no-untyped-def]
    samples, _ = load_datasets([make_dataset(infants=2, per_infant=4)])
    return [s.path for s in samples], np.array([s.label for s in samples])


def test_decoded_crops_are_resized_rgb_0_255(crops: tuple[list[Path], np.ndarray]) -> None:
    from service.vision.images import read_rgb

    paths, _ = crops
    images = load_images(paths, 64)
    assert images.shape == (8, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255 and images.std() > 10
    original = read_rgb(paths[0]).astype(
        np.float32
    )  # 80 px area-resized to 64 px: means agree (TF and OpenCV JPEG decoders differ by a level or so)
    assert images[0].mean(axis=(0, 1)) == pytest.approx(original.mean(axis=(0, 1)), abs=2.0)


def test_augmentation_is_seeded_and_new_each_epoch(crops: tuple[list[Path], np.ndarray]) -> None:
    paths, labels = crops
    aug = load_config("mpain").augmentation

    def epochs(seed: int) -> list[np.ndarray]:
        ds = image_dataset(paths, labels, 64, 4, shuffle_seed=seed, augmentation=aug, augment_seed=seed)
        return [np.concatenate([x.numpy() for x, _ in ds]) for _ in range(2)]

    first, again = epochs(3), epochs(3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))  # rerun: identical
    assert not np.array_equal(first[0], first[1])  # next epoch: new order and new augmentation
    plain = load_images(paths, 64)
    assert not any(np.allclose(first[0][0], p) for p in plain)  # augmented, not a plain crop
    assert first[0].min() >= 0 and first[0].max() <= 255


def test_zero_rotation_is_the_identity_transform() -> None:
    import tensorflow as tf

    transform = rotation_transform(tf.constant(0.0), 64).numpy()
    np.testing.assert_allclose(transform, [[1, 0, 0, 0, 1, 0, 0, 0]], atol=1e-6)


def test_cached_pool4_features_give_the_full_models_output(crops: tuple[list[Path], np.ndarray]) -> None:
    paths, _ = crops
    model = build_model(input_size=64, seed=1)
    features = pool4_features(model, paths, 64, 4)
    assert features.shape == (8, 4, 4, 512)
    head = block5_head(model)
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(load_images(paths, 64), verbose=0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    assert frozen_fingerprint(model) == frozen_fingerprint(build_model(input_size=64, seed=1))
    assert frozen_fingerprint(model) != frozen_fingerprint(build_model(input_size=64, seed=2))
