"""`video` source: a file decoded with OpenCV, looped and paced like a camera if asked."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from service.sources.base import Frame, SourceError
from service.sources.config import VideoSourceConfig
from service.sources.opencv_capture import read_rgb
from service.sources.timestamps import IncreasingTimestamps

logger = logging.getLogger(__name__)

_MAX_PACING_LAG_S = 1.0
"""A player that fell further behind than this restarts its schedule instead of bursting to catch up."""


class VideoFileSource:
    """Frames of a video file; `media_ts_ms` is the decoder position, increasing across loops."""

    def __init__(self, config: VideoSourceConfig) -> None:
        self.config = config
        self.name = f"video:{config.path.name}"
        self._capture: cv2.VideoCapture | None = None
        self._fps = 0.0
        self._sequence = 0
        self._timestamps = IncreasingTimestamps()
        self._schedule_start = 0.0
        self._scheduled_frames = 0

    def open(self) -> None:
        self.close()
        self._capture = self._open_capture()
        self._fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._sequence = 0
        self._timestamps = IncreasingTimestamps(step_ms=round(1000 / self._fps) if self._fps > 0 else 1)
        self._restart_schedule()

    def read(self, timeout_s: float) -> Frame | None:
        if self._capture is None:
            raise SourceError(f"{self.name}: read before open")
        self._wait_for_frame_time(timeout_s)
        rgb = read_rgb(self._capture)
        if rgb is None:
            rgb = self._rewind_and_read()
        position_ms = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        frame = Frame(
            rgb=rgb,
            capture_ts=time.time(),
            sequence=self._sequence,
            media_ts_ms=self._timestamps(position_ms),
        )
        self._sequence += 1
        self._scheduled_frames += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _open_capture(self) -> cv2.VideoCapture:
        path = self.config.path
        if not path.is_file():
            raise SourceError(f"{self.name}: video file not found: {path}")
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.name}: cannot be opened as a video (corrupt or unsupported format): {path}")
        return capture

    def _rewind_and_read(self) -> np.ndarray:
        """The first frame again (loop) or EOFError; a file that yields nothing after a rewind is broken."""
        if not self.config.loop:
            raise EOFError(f"{self.name}: end of file")
        assert self._capture is not None
        # reopening is more reliable than seeking to 0 across containers/codecs
        self._capture.release()
        self._capture = self._open_capture()
        rgb = read_rgb(self._capture)
        if rgb is None:
            raise SourceError(f"{self.name}: no frame could be decoded after rewinding")
        logger.debug("%s: looped", self.name)
        return rgb

    def _restart_schedule(self) -> None:
        self._schedule_start = time.monotonic()
        self._scheduled_frames = 0

    def _wait_for_frame_time(self, timeout_s: float) -> None:
        """Sleep until this frame is due at the file's frame rate (realtime playback)."""
        if not self.config.realtime or self._fps <= 0:
            return
        due = self._schedule_start + self._scheduled_frames / self._fps
        delay = due - time.monotonic()
        if delay < -_MAX_PACING_LAG_S:
            self._restart_schedule()
        elif delay > 0:
            time.sleep(min(delay, timeout_s))
