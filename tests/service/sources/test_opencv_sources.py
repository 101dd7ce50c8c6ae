"""`video` and `camera` sources on real MP4 files written by the tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.sources.base import Frame, SourceError
from service.sources.camera import CameraSource
from service.sources.config import CameraSourceConfig, VideoSourceConfig
from service.sources.opencv_capture import redact_url
from service.sources.video_file import VideoFileSource

VideoMaker = Callable[..., Path]
GREY_TOLERANCE = 6  # mp4v is lossy; make_video's grey steps of 8 stay distinguishable


def grey_level(frame_index: int) -> int:
    return (frame_index * 8) % 256  # what tests/conftest.py's make_video paints


def video_source(path: Path, loop: bool = False, realtime: bool = False) -> VideoFileSource:
    return VideoFileSource(VideoSourceConfig(type="video", path=path, loop=loop, realtime=realtime))


def read_frames(source: VideoFileSource | CameraSource, count: int) -> list[Frame]:
    frames = []
    for _ in range(count):
        frame = source.read(timeout_s=1.0)
        assert frame is not None
        frames.append(frame)
    return frames


def write_solid_video(path: Path, bgr: tuple[int, int, int], frames: int = 5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48))
    for _ in range(frames):
        writer.write(np.full((48, 64, 3), bgr, np.uint8))
    writer.release()
    return path


def test_frames_are_rgb(tmp_path: Path) -> None:
    source = video_source(write_solid_video(tmp_path / "red.mp4", bgr=(0, 0, 255)))
    source.open()
    try:
        frame = read_frames(source, 1)[0]
    finally:
        source.close()
    assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
    mean = frame.rgb.reshape(-1, 3).mean(axis=0)
    assert mean[0] > 230 and mean[1] < 25 and mean[2] < 25  # red lands in channel 0


def test_frames_decode_in_order_then_the_file_ends(make_video: VideoMaker) -> None:
    source = video_source(make_video(seconds=0.4, fps=15.0))  # 6 frames
    source.open()
    try:
        frames = read_frames(source, 6)
        with pytest.raises(EOFError):
            source.read(timeout_s=1.0)
    finally:
        source.close()
    levels = [int(np.median(frame.rgb)) for frame in frames]
    assert all(abs(level - grey_level(i)) <= GREY_TOLERANCE for i, level in enumerate(levels)), levels
    assert [frame.sequence for frame in frames] == list(range(6))
    assert [frame.media_ts_ms for frame in frames] == [round(i * 1000 / 15) for i in range(6)]


def test_looping_continues_with_increasing_timestamps(make_video: VideoMaker) -> None:
    source = video_source(make_video(seconds=0.4, fps=15.0), loop=True)
    source.open()
    try:
        frames = read_frames(source, 15)  # two and a half passes
    finally:
        source.close()
    levels = [int(np.median(frame.rgb)) for frame in frames]
    assert all(abs(level - grey_level(i % 6)) <= GREY_TOLERANCE for i, level in enumerate(levels)), levels
    assert [frame.sequence for frame in frames] == list(range(15))
    stamps = [frame.media_ts_ms for frame in frames]
    assert all(later > earlier for earlier, later in itertools.pairwise(stamps)), stamps
    assert stamps[6] - stamps[5] == round(1000 / 15)  # the loop continues one frame period later


def test_realtime_playback_is_paced_at_the_file_rate(make_video: VideoMaker) -> None:
    source = video_source(make_video(seconds=0.4, fps=15.0), realtime=True)
    source.open()
    try:
        started = time.monotonic()
        read_frames(source, 6)
        elapsed = time.monotonic() - started
    finally:
        source.close()
    assert elapsed >= 5 / 15 - 0.01  # five frame periods between six frames, like a camera


def test_missing_and_corrupt_files_fail_to_open(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        video_source(tmp_path / "absent.mp4").open()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(SourceError, match="cannot be opened"):
        video_source(corrupt).open()


def test_camera_source_reads_a_stream_url(tmp_path: Path) -> None:
    # FFmpeg opens a file path the way it opens an RTSP/HTTP URL: the same CameraSource code path
    path = write_solid_video(tmp_path / "blue.mp4", bgr=(255, 0, 0), frames=3)
    source = CameraSource(CameraSourceConfig(type="camera", device=str(path)))
    source.open()
    try:
        frames = read_frames(source, 3)
        with pytest.raises(SourceError, match="no frame"):  # a camera that stops delivering has failed
            source.read(timeout_s=1.0)
    finally:
        source.close()
    assert frames[0].rgb.reshape(-1, 3).mean(axis=0)[2] > 230  # blue lands in channel 2
    stamps = [frame.media_ts_ms for frame in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


def test_camera_that_does_not_exist_fails_to_open() -> None:
    with pytest.raises(SourceError, match="cannot open camera"):
        CameraSource(CameraSourceConfig(type="camera", device=97)).open()


def test_stream_credentials_never_reach_names() -> None:
    config = CameraSourceConfig(type="camera", device="rtsp://nurse:s3cret@10.0.0.7:554/bed3")
    assert CameraSource(config).name == "camera:rtsp://***@10.0.0.7:554/bed3"
    assert redact_url("rtsp://10.0.0.7/bed3") == "rtsp://10.0.0.7/bed3" and redact_url(2) == "2"
