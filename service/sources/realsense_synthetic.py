"""Write RealSense recordings from synthetic frames (tests, demos), without a camera.

`rs.software_device` makes frames but `rs.pipeline` cannot open it, so its frames are recorded with
`rs.recorder` into a `.db3` file (what pyrealsense2 2.59 writes) that the pipeline can play back: the
bedside code path, file instead of USB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from service.sources.realsense_import import import_pyrealsense2

logger = logging.getLogger(__name__)


def write_realsense_recording(path: Path, frames: Iterable[np.ndarray], fps: int = 30) -> int:
    """Record RGB uint8 (H, W, 3) frames as a colour stream into `path` (`.db3`); returns the frame count.

    Frames are pushed at `fps` in real time because the recorder stamps them with their arrival time, and
    playback in real time reproduces those gaps.
    """
    if path.suffix.lower() != ".db3":
        raise ValueError(f"pyrealsense2 records .db3 files, not {path.suffix!r}")
    rs = import_pyrealsense2()
    frame_iter = iter(frames)
    first = next(frame_iter, None)
    if first is None:
        raise ValueError("no frames to record")
    height, width = first.shape[:2]
    device = rs.software_device()
    sensor = device.add_sensor("Color")
    profile = sensor.add_video_stream(_color_stream(rs, width, height, fps)).as_video_stream_profile()
    recorder = rs.recorder(str(path), device)
    recording_sensor = recorder.query_sensors()[0]
    sink = rs.frame_queue(4, keep_frames=False)  # playback is what matters; the live copies are discarded
    recording_sensor.open(profile)
    recording_sensor.start(sink)
    count = 0
    try:
        for count, rgb in enumerate([first, *frame_iter], start=1):
            _push(rs, sensor, profile, rgb, count - 1, fps)
            time.sleep(1.0 / fps)
    finally:
        recording_sensor.stop()
        recording_sensor.close()
        del recording_sensor, recorder  # the recorder finalises the file when released
    logger.debug("recorded %d frames to %s", count, path)
    return count


def _color_stream(rs: Any, width: int, height: int, fps: int) -> Any:
    stream = rs.video_stream()
    stream.type = rs.stream.color
    stream.index = 0
    stream.uid = 0
    stream.width = width
    stream.height = height
    stream.fps = fps
    stream.bpp = 3
    stream.fmt = rs.format.rgb8
    intrinsics = rs.intrinsics()
    intrinsics.width = width
    intrinsics.height = height
    intrinsics.fx = intrinsics.fy = float(max(width, height))
    intrinsics.ppx = width / 2
    intrinsics.ppy = height / 2
    intrinsics.model = rs.distortion.none
    stream.intrinsics = intrinsics
    return stream


def _push(rs: Any, sensor: Any, profile: Any, rgb: np.ndarray, index: int, fps: int) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame {index}: need RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    frame = rs.software_video_frame()
    frame.pixels = np.ascontiguousarray(rgb).tobytes()
    frame.stride = rgb.shape[1] * 3
    frame.bpp = 3
    frame.timestamp = index * 1000.0 / fps
    frame.domain = rs.timestamp_domain.hardware_clock
    frame.frame_number = index
    frame.profile = profile
    sensor.on_video_frame(frame)
