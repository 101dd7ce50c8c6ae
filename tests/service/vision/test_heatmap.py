from __future__ import annotations

import numpy as np
import pytest

from service.vision.heatmap import colorize, overlay, upsample_to_crop


def test_upsample_keeps_range_and_shape() -> None:
    cam = np.zeros((14, 14), np.float32)
    cam[3, 4] = 1.0
    big = upsample_to_crop(cam, 224)
    assert big.shape == (224, 224) and big.min() >= 0.0 and big.max() <= 1.0
    assert np.unravel_index(big.argmax(), big.shape)[0] // 16 == 3


def test_overlay_blends_colour_map() -> None:
    crop = np.full((32, 32, 3), 100, np.uint8)
    cam = np.ones((4, 4), np.float32)
    assert np.array_equal(overlay(crop, cam, alpha=0.0), crop)
    full = overlay(crop, cam, alpha=1.0)
    assert np.array_equal(full, colorize(np.ones((32, 32), np.float32)))
    assert tuple(full[0, 0]) == (128, 0, 0)  # JET at 1.0 is dark red, returned as RGB


@pytest.mark.parametrize(
    ("crop", "cam", "match"),
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((2, 2)), "uint8"),
        (np.zeros((8, 8), np.uint8), np.zeros((2, 2)), "RGB"),
        (np.zeros((8, 8, 3), np.uint8), np.full((2, 2), 2.0), r"\[0, 1\]"),
        (np.zeros((8, 8, 3), np.uint8), np.full((2, 2), np.nan), "NaN"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((2, 2, 2)), "2-D"),
    ],
)
def test_overlay_rejects_bad_inputs(crop, cam, match) -> None:
    with pytest.raises(ValueError, match=match):
        overlay(crop, cam)
