"""The face crop: a square around the detection with a margin, clamped to the frame, resized to the model input.

Training crops and bedside crops are this function's output, so the model sees the same thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from service.vision.detectors import FaceBox


@dataclass(frozen=True)
class CropSpec:
    """How a face crop is made. Recorded in every dataset and model card."""

    size: int = 224
    """Side of the output crop in pixels (the model input; 224 for VGG-Face)."""
    margin: float = 0.2
    """Extra context on each side, as a fraction of the detection's longer side."""

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"crop size must be at least 8 px, got {self.size}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"crop margin must be within 0..2 (fraction of the face box), got {self.margin}")

    def as_dict(self) -> dict[str, float | int | str]:
        return {"size": self.size, "margin": self.margin, "shape": "square", "clamp": "shift-inside-frame"}


@dataclass(frozen=True)
class SquareBox:
    """A square region of a frame, in pixels, fully inside the frame."""

    x: int
    y: int
    side: int


def square_box(face: FaceBox, frame_height: int, frame_width: int, margin: float) -> SquareBox:
    """Square around the face centre, side = longer face side * (1 + 2 * margin), shifted inside the frame.

    When the square is larger than the frame it shrinks to the frame's shorter side.
    """
    cx = face.x + face.w / 2.0
    cy = face.y + face.h / 2.0
    side = round(max(face.w, face.h) * (1.0 + 2.0 * margin))
    side = max(1, min(side, frame_height, frame_width))
    x = round(cx - side / 2.0)
    y = round(cy - side / 2.0)
    x = min(max(x, 0), frame_width - side)
    y = min(max(y, 0), frame_height - side)
    return SquareBox(x=int(x), y=int(y), side=int(side))


def crop_region(image: np.ndarray, region: SquareBox, size: int) -> np.ndarray:
    """Cut `region` out of an image (RGB or single-channel mask) and resize it to size x size."""
    patch = image[region.y : region.y + region.side, region.x : region.x + region.side]
    interpolation = cv2.INTER_AREA if region.side > size else cv2.INTER_LINEAR
    if image.ndim == 2:
        interpolation = cv2.INTER_NEAREST  # masks stay binary
    return cv2.resize(patch, (size, size), interpolation=interpolation)


def crop_face(rgb: np.ndarray, face: FaceBox, spec: CropSpec = CropSpec()) -> tuple[np.ndarray, SquareBox]:
    """The face crop (spec.size x spec.size RGB uint8) and the square region of the frame it came from."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB frame (H, W, 3), got shape {rgb.shape}")
    region = square_box(face, rgb.shape[0], rgb.shape[1], spec.margin)
    return crop_region(rgb, region, spec.size), region
