"""Source kind (`type` in the config) -> the class that implements it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.sources.base import FrameSource
from service.sources.camera import CameraSource
from service.sources.config import SourceConfig
from service.sources.realsense import RealSenseSource
from service.sources.video_file import VideoFileSource

SOURCES: dict[str, Callable[[Any], FrameSource]] = {
    "video": VideoFileSource,
    "camera": CameraSource,
    "realsense": RealSenseSource,
}
"""Each value is a class taking its own config model; keys are the configs' `type` literals."""


def open_source(config: SourceConfig) -> FrameSource:
    """The source for `config`, not yet opened: `open()` it in the thread that reads it (BedCapture does)."""
    return SOURCES[config.type](config)
