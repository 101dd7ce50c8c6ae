"""Image I/O at the edge of the program: everything inside painwatch is RGB uint8 (H, W, 3)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from service.errors import UserError
from service.files import atomic_path


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8; a missing or undecodable file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: image file not found")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path}: not a readable image (corrupt or unsupported format)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_rgb(path: Path, rgb: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write an RGB image atomically; the format follows the file extension."""
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise UserError(f"{path}: could not encode image as {ext}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Write a single-channel uint8 mask (0/255) losslessly as PNG, atomically."""
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8))
    if not ok:
        raise UserError(f"{path}: could not encode mask")
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(buf.tobytes())
