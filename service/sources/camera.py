"""`camera` source: a device index or an RTSP/HTTP stream through OpenCV."""

from __future__ import annotations

import logging
import time

import cv2

from service.sources.base import Frame, SourceError
from service.sources.config import CameraSourceConfig
from service.sources.opencv_capture import read_rgb, redact_url
from service.sources.timestamps import IncreasingTimestamps

logger = logging.getLogger(__name__)


class CameraSource:
    """Live frames; `media_ts_ms` is the monotonic arrival time (camera position clocks are unreliable)."""

    def __init__(self, config: CameraSourceConfig) -> None:
        self.config = config
        self.name = f"camera:{redact_url(config.device)}"
        self._capture: cv2.VideoCapture | None = None
        self._sequence = 0
        self._timestamps = IncreasingTimestamps()

    def open(self) -> None:
        self.close()
        capture = cv2.VideoCapture(self.config.device, cv2.CAP_ANY, self._open_params())
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.name}: cannot open camera or stream")
        self._request_format(capture)
        self._capture = capture
        self._sequence = 0

    def read(self, timeout_s: float) -> Frame | None:
        # OpenCV has no per-call timeout: the stream read timeout set at open bounds a network read;
        # a local device read returns within a frame period or fails
        if self._capture is None:
            raise SourceError(f"{self.name}: read before open")
        rgb = read_rgb(self._capture)
        if rgb is None:
            raise SourceError(f"{self.name}: camera delivered no frame (unplugged or stream lost)")
        frame = Frame(
            rgb=rgb,
            capture_ts=time.time(),
            sequence=self._sequence,
            media_ts_ms=self._timestamps(time.monotonic() * 1000.0),
        )
        self._sequence += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _open_params(self) -> list[int]:
        return [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(self.config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(self.config.read_timeout_s * 1000),
        ]

    def _request_format(self, capture: cv2.VideoCapture) -> None:
        """Ask for the configured size/rate; cameras may pick the nearest mode they support."""
        requests = {
            cv2.CAP_PROP_FRAME_WIDTH: self.config.width,
            cv2.CAP_PROP_FRAME_HEIGHT: self.config.height,
            cv2.CAP_PROP_FPS: self.config.fps,
        }
        for prop, value in requests.items():
            if value is not None and not capture.set(prop, float(value)):
                logger.info("%s: camera ignored the request for property %s=%s", self.name, prop, value)
