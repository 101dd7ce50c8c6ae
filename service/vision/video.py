"""Video file facts read with OpenCV (the decoder both the data pipeline and the `video` source use)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


class VideoError(Exception):
    """A video that cannot be opened or decoded; the message says why."""


def probe_video(path: Path) -> VideoInfo:
    """Container-level facts (no full decode). Raises VideoError for unreadable files."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(f"{path}: cannot be opened as a video (corrupt or unsupported format)")
        info = VideoInfo(
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )
    finally:
        capture.release()
    if info.fps <= 0 or info.frame_count <= 0:
        raise VideoError(f"{path}: no frame rate or no frames in the container (corrupt or empty video)")
    return info
