"""Pixel blending shared by the scene and the cues."""

from __future__ import annotations

import cv2
import numpy as np


def blend_into(target: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> None:
    """target = layer * alpha + target * (1 - alpha), in place (alpha float32 0..1, one channel)."""
    mixed = cv2.blendLinear(layer, target, alpha, np.ascontiguousarray(1.0 - alpha, dtype=np.float32))
    target[:] = mixed
