"""The synthetic demo video: a real face photo (scikit-image's astronaut) moving slightly, then no face.

SYNTHETIC: it is not an infant and not a patient; it only exercises the live pipeline (face found,
face lost, loop). Deterministic: the same parameters always give the same frames. Generated on first
use by `painwatch serve` and cached under the data folder.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

FRAME_SIZE = (640, 480)
"""Width, height."""


def astronaut_rgb() -> np.ndarray:
    from skimage import data  # ships the photo; imported here so the service starts without it until needed

    return np.asarray(data.astronaut(), dtype=np.uint8)


def background(width: int, height: int) -> np.ndarray:
    """A soft vertical gradient, like an incubator wall: no face in it."""
    ramp = np.linspace(150, 210, height, dtype=np.float32)[:, None, None]
    tint = np.array([0.92, 1.0, 0.96], np.float32)[None, None, :]
    return np.broadcast_to(ramp * tint, (height, width, 3)).astype(np.uint8)


def demo_frame(index: int, fps: float, face_visible: bool, photo: np.ndarray) -> np.ndarray:
    """Frame `index`: the photo (scaled to 400 px) drifting a few pixels on the background, or the background."""
    width, height = FRAME_SIZE
    frame = background(width, height).copy()
    if not face_visible:
        return frame
    side = 400
    scaled = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    t = index / fps
    dx = round(12 * math.sin(2 * math.pi * t / 4.0))  # slow sway: the detector tracks a moving face
    dy = round(6 * math.sin(2 * math.pi * t / 3.0))
    x0 = (width - side) // 2 + dx
    y0 = (height - side) // 2 + dy
    frame[y0 : y0 + side, x0 : x0 + side] = scaled
    return frame


def write_demo_video(path: Path, seconds: float = 8.0, fps: float = 15.0, face_until_s: float = 6.0) -> Path:
    """Write the video (MPEG-4 Part 2 in .mp4); the face is visible for the first `face_until_s` seconds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = astronaut_rgb()
    # VideoWriter picks the container from the extension, so stage under a .mp4 name and rename into place.
    fd, staged_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    staged = Path(staged_name)
    try:
        writer = cv2.VideoWriter(str(staged), cv2.VideoWriter_fourcc(*"mp4v"), fps, FRAME_SIZE)  # type: ignore[attr-defined]
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {staged}")
        for index in range(round(seconds * fps)):
            rgb = demo_frame(index, fps, index / fps < face_until_s, photo)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    logger.info("wrote the synthetic demo video %s", path)
    return path


def ensure_demo_video(path: Path) -> Path:
    """The cached demo video, generated if missing."""
    path = Path(path)
    if not path.is_file():
        write_demo_video(path)
    return path
