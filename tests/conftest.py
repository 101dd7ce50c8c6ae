"""Shared test fixtures: real media made by the tests themselves (no downloads)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")

VideoMaker = Callable[..., Path]


def grey_level(frame_index: int) -> int:
    """The grey level `make_video` paints frame i with: steps of 8 survive lossy MPEG-4 coding."""
    return (frame_index * 8) % 256


@pytest.fixture
def make_video(tmp_path: Path) -> VideoMaker:
    """Write a real MP4 (mp4v) whose frame i is painted `grey_level(i)`; returns its path."""

    def make(
        name: str = "clip.mp4", seconds: float = 4.0, fps: float = 15.0, size: tuple[int, int] = (160, 120)
    ) -> Path:
        path = tmp_path / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        for index in range(round(seconds * fps)):
            frame = np.full((size[1], size[0], 3), grey_level(index), np.uint8)
            writer.write(frame)
        writer.release()
        return path

    return make
