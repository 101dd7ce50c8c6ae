"""`realsense` source: the pyrealsense2 pipeline's colour stream, from a camera or a recording.

A live camera and a `.bag`/`.db3` recording go through the same `rs.pipeline` code; only the
`rs.config` differs, so a recording exercises exactly what runs at the bedside.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from service.sources.base import Frame, SourceError
from service.sources.config import RealSenseSourceConfig
from service.sources.realsense_import import import_pyrealsense2
from service.sources.timestamps import IncreasingTimestamps

logger = logging.getLogger(__name__)


def _to_rgb(pixels: np.ndarray, pixel_format: str) -> np.ndarray:
    """A copy of the colour frame as RGB uint8 (the SDK reuses its frame buffers after release)."""
    if pixel_format == "rgb8":
        return np.array(pixels, dtype=np.uint8, copy=True)
    if pixel_format == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    if pixel_format == "rgba8":
        return np.ascontiguousarray(pixels[..., :3])
    if pixel_format == "bgra8":
        return np.ascontiguousarray(pixels[..., 2::-1])
    raise SourceError(f"unsupported RealSense colour format {pixel_format!r} (need rgb8, bgr8, rgba8 or bgra8)")


class RealSenseSource:
    """Colour frames; `media_ts_ms` is the frame's own timestamp, kept increasing across loops."""

    def __init__(self, config: RealSenseSourceConfig) -> None:
        self.config = config
        self.name = self._describe(config)
        self._rs = import_pyrealsense2()
        self._pipeline: Any = None
        self._playback: Any = None
        self._sequence = 0
        self._timestamps = IncreasingTimestamps()

    def open(self) -> None:
        self.close()
        rs = self._rs
        if self.config.recording is None:
            self._require_connected_camera()
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(self._pipeline_config())
        except RuntimeError as exc:  # no device, wrong serial, unreadable recording
            raise SourceError(f"{self.name}: cannot start the RealSense pipeline: {exc}") from exc
        self._pipeline = pipeline
        self._playback = profile.get_device().as_playback() if self.config.recording is not None else None
        fps = profile.get_stream(rs.stream.color).as_video_stream_profile().fps()
        self._timestamps = IncreasingTimestamps(step_ms=round(1000 / fps) if fps > 0 else 1)
        self._sequence = 0

    def read(self, timeout_s: float) -> Frame | None:
        if self._pipeline is None:
            raise SourceError(f"{self.name}: read before open")
        try:
            ok, frames = self._pipeline.try_wait_for_frames(max(1, round(timeout_s * 1000)))
        except RuntimeError as exc:  # device lost mid-stream
            raise SourceError(f"{self.name}: frame wait failed: {exc}") from exc
        if not ok:
            self._raise_if_recording_ended()
            return None
        color = frames.get_color_frame()
        if not color:
            return None
        pixel_format = color.get_profile().format().name
        frame = Frame(
            rgb=_to_rgb(np.asanyarray(color.get_data()), pixel_format),
            capture_ts=time.time(),
            sequence=self._sequence,
            media_ts_ms=self._timestamps(color.get_timestamp()),
        )
        self._sequence += 1
        return frame

    def close(self) -> None:
        pipeline, self._pipeline, self._playback = self._pipeline, None, None
        if pipeline is not None:
            try:
                pipeline.stop()
            except RuntimeError as exc:  # already stopped or device gone: nothing left to release
                logger.debug("%s: pipeline stop: %s", self.name, exc)

    def _pipeline_config(self) -> Any:
        rs = self._rs
        config = rs.config()
        recording = self.config.recording
        if recording is not None:
            if not recording.is_file():
                raise SourceError(f"{self.name}: recording not found: {recording}")
            config.enable_device_from_file(str(recording), repeat_playback=self.config.loop)
            # a recording dictates its own stream: take its colour stream whatever its size
            config.enable_stream(rs.stream.color)
        else:
            if self.config.serial is not None:
                config.enable_device(self.config.serial)
            config.enable_stream(
                rs.stream.color, self.config.width, self.config.height, rs.format.rgb8, self.config.fps
            )
        return config

    def _require_connected_camera(self) -> None:
        """Fail at once when the camera is absent: `pipeline.start` would block ~15 s in native code first."""
        serials = [device.get_info(self._rs.camera_info.serial_number) for device in self._rs.context().query_devices()]
        wanted = self.config.serial
        if not serials or (wanted is not None and wanted not in serials):
            found = ", ".join(serials) or "none"
            raise SourceError(f"{self.name}: camera not connected (RealSense cameras found: {found})")

    def _raise_if_recording_ended(self) -> None:
        if self._playback is not None and self._playback.current_status() == self._rs.playback_status.stopped:
            raise EOFError(f"{self.name}: end of recording")

    @staticmethod
    def _describe(config: RealSenseSourceConfig) -> str:
        if config.recording is not None:
            return f"realsense:{config.recording.name}"
        return f"realsense:{config.serial or 'first'}"
