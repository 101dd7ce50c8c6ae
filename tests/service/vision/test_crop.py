"""The one face-crop function: square, margin, clamped to the frame, on a real face photograph."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from service.vision.crop import CropSpec, SquareBox, crop_face, crop_region, square_box
from service.vision.detectors import FaceBox, best_face, create_detector

# skimage's astronaut photo: the face is at about x 177, y 82, 95x95
ASTRONAUT_FACE = FaceBox(x=177, y=82, w=95, h=95, score=1.0)


def contains(region: SquareBox, box: FaceBox) -> bool:
    return (
        region.x <= box.x
        and region.y <= box.y
        and region.x + region.side >= box.x + box.w
        and region.y + region.side >= box.y + box.h
    )


def test_square_box_centres_and_adds_margin() -> None:
    region = square_box(FaceBox(100, 100, 40, 20, 1.0), frame_height=480, frame_width=640, margin=0.25)
    # side = longer face side * (1 + 2 * margin) = 40 * 1.5; centre (120, 110) kept
    assert region == SquareBox(x=90, y=80, side=60)


@pytest.mark.parametrize(
    ("face", "expected"),
    [
        (FaceBox(0, 0, 50, 50, 1.0), SquareBox(0, 0, 70)),  # top-left corner: shifted right/down
        (FaceBox(610, 450, 30, 30, 1.0), SquareBox(598, 438, 42)),  # bottom-right corner: shifted left/up
        (FaceBox(-10, 200, 40, 40, 1.0), SquareBox(0, 192, 56)),  # box partly outside the frame
    ],
)
def test_square_box_is_shifted_inside_the_frame(face: FaceBox, expected: SquareBox) -> None:
    region = square_box(face, frame_height=480, frame_width=640, margin=0.2)
    assert region == expected
    assert 0 <= region.x <= 640 - region.side and 0 <= region.y <= 480 - region.side


def test_square_box_larger_than_frame_shrinks_to_shorter_side() -> None:
    region = square_box(FaceBox(10, 5, 600, 470, 1.0), frame_height=480, frame_width=640, margin=0.5)
    assert region.side == 480
    assert region.y == 0 and 0 <= region.x <= 160
    # centred on the face centre (310) as far as the frame allows
    assert region.x == 310 - 240


def test_square_box_of_a_tall_image_is_its_centre_square() -> None:
    region = square_box(FaceBox(0, 0, 100, 300, 1.0), frame_height=300, frame_width=100, margin=0.0)
    assert region == SquareBox(x=0, y=100, side=100)


def test_crop_spec_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        CropSpec(size=4)
    with pytest.raises(ValueError, match="margin"):
        CropSpec(margin=-0.1)


def test_crop_region_of_a_mask_stays_binary() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[20:60, 20:60] = 255
    out = crop_region(mask, SquareBox(0, 0, 100), 37)
    assert out.shape == (37, 37)
    assert set(np.unique(out)) <= {0, 255}


def test_crop_of_the_astronaut_contains_the_known_face_box() -> None:
    rgb = data.astronaut()
    crop, region = crop_face(rgb, ASTRONAUT_FACE, CropSpec(size=224, margin=0.2))
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert contains(region, ASTRONAUT_FACE)
    assert region.side == round(95 * 1.4)
    np.testing.assert_array_equal(
        rgb[region.y : region.y + region.side, region.x : region.x + region.side].shape[:2],
        (region.side, region.side),
    )


def test_detected_face_crop_contains_the_face_and_is_detected_again() -> None:
    rgb = data.astronaut()
    detector = create_detector("opencv-haar")
    try:
        face = best_face(detector.detect(rgb))
        assert face is not None
        crop, region = crop_face(rgb, face, CropSpec(size=224, margin=0.2))
        assert contains(region, ASTRONAUT_FACE) or _overlap(face, ASTRONAUT_FACE) > 0.6
        again = best_face(detector.detect(crop))
    finally:
        detector.close()
    assert again is not None
    # the face fills the crop: its box is about 224 / 1.4 = 160 px wide and near the centre
    assert 110 <= again.w <= 224
    assert abs(again.x + again.w / 2 - 112) < 30 and abs(again.y + again.h / 2 - 112) < 30


def _overlap(a: FaceBox, b: FaceBox) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.area + b.area - inter)
