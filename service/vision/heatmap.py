"""Grad-CAM display helpers (numpy + OpenCV, no TensorFlow): upsample a map to the crop and overlay it.

Training reports and the bedside service draw heatmaps with these same functions.
"""

from __future__ import annotations

import cv2
import numpy as np

_RANGE_SLACK = 1e-4
"""Maps come out of float32 arithmetic; allow this much outside [0, 1] before calling it a bug."""


def validate_cam(cam: np.ndarray) -> np.ndarray:
    """A 2-D finite map within [0, 1] (slightly outside is clipped); anything else raises ValueError."""
    cam = np.asarray(cam)
    if cam.ndim != 2 or cam.size == 0:
        raise ValueError(f"expected a 2-D Grad-CAM map (H, W), got shape {cam.shape}")
    if not np.all(np.isfinite(cam)):
        raise ValueError("Grad-CAM map contains NaN or infinite values")
    low, high = float(cam.min()), float(cam.max())
    if low < -_RANGE_SLACK or high > 1.0 + _RANGE_SLACK:
        raise ValueError(f"Grad-CAM map must be normalised to [0, 1], got range [{low:.4g}, {high:.4g}]")
    return np.clip(cam.astype(np.float32), 0.0, 1.0)


def validate_crop(crop_rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 image (H, W, 3); anything else raises ValueError."""
    crop_rgb = np.asarray(crop_rgb)
    if crop_rgb.ndim != 3 or crop_rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB crop (H, W, 3), got shape {crop_rgb.shape}")
    if crop_rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB crop (0-255), got dtype {crop_rgb.dtype}")
    return crop_rgb


def upsample_to_crop(cam: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a [0, 1] map to the crop (size or (height, width)) with bilinear interpolation; stays in [0, 1]."""
    cam = validate_cam(cam)
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    resized = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized, 0.0, 1.0)


def colorize(cam: np.ndarray, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """A [0, 1] map as an RGB uint8 colour image."""
    cam = validate_cam(cam)
    bgr = cv2.applyColorMap(np.round(cam * 255.0).astype(np.uint8), colormap)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def overlay(crop_rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.4, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend the colour-mapped Grad-CAM over the crop: (1 - alpha) * crop + alpha * heat, RGB uint8.

    The map may be at the conv grid (e.g. 14x14); it is upsampled to the crop first.
    """
    crop_rgb = validate_crop(crop_rgb)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    cam = upsample_to_crop(cam, (crop_rgb.shape[0], crop_rgb.shape[1]))
    heat = colorize(cam, colormap)
    blended = (1.0 - alpha) * crop_rgb.astype(np.float32) + alpha * heat.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
