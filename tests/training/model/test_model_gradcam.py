from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from training.model.architecture import grad_cam_outputs_model
from training.model.gradcam import forward_gradcam, gradcam_reference, normalise_maps


def test_forward_only_gradcam_matches_gradient_tape(small_model: keras.Model, real_crops_64) -> None:
    rng = np.random.default_rng(3)
    images = np.concatenate([real_crops_64, rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)])
    _, h1, h2, _, probs_keras = (t.numpy() for t in grad_cam_outputs_model(small_model)([images]))
    # The test only means something when the ReLU masks are mixed.
    assert 0.2 < (h1 > 0).mean() < 0.8 and 0.2 < (h2 > 0).mean() < 0.8
    reference = gradcam_reference(small_model, images)
    probs, maps = forward_gradcam(small_model, images)
    assert maps.shape == reference.shape == (4, 2, 4, 4)
    np.testing.assert_allclose(probs, probs_keras, atol=1e-7)
    assert np.abs(maps - reference).max() < 1e-4
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    peaks = maps.max(axis=(2, 3))
    assert np.all((peaks > 0.999) | (peaks == 0.0))  # each map normalised to its own maximum
    assert (reference > 0).any(axis=(2, 3)).sum() >= 4  # several non-empty maps, not a trivial all-zero case


def test_reference_single_class_equals_slice(small_model: keras.Model, real_crops_64) -> None:
    both = gradcam_reference(small_model, real_crops_64)
    pain = gradcam_reference(small_model, real_crops_64, class_index=1)
    np.testing.assert_allclose(pain, both[:, 1], atol=1e-7)


def test_all_zero_map_stays_zero() -> None:
    cams = tf.constant(np.stack([np.zeros((3, 3)), np.arange(9.0).reshape(3, 3)])[None].astype(np.float32))
    out = normalise_maps(cams).numpy()
    assert np.all(out[0, 0] == 0.0)
    np.testing.assert_allclose(out[0, 1].max(), 1.0, rtol=1e-6)
