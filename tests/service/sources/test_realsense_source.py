"""The `realsense` source through the real `rs.pipeline`, on a recording the test makes itself.

No camera is attached here: frames with known content are pushed into `rs.software_device`, recorded
with `rs.recorder` to `.db3`, and played back through the same pipeline code a live camera uses.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from service.sources.base import Frame, SourceError
from service.sources.capture import BedCapture
from service.sources.config import CaptureConfig, RealSenseSourceConfig
from service.sources.realsense import RealSenseSource
from service.sources.realsense_synthetic import write_realsense_recording

WIDTH, HEIGHT, FRAMES = 64, 48, 10


def recorded_frame(index: int) -> np.ndarray:
    """Red encodes the frame index, blue is constant, and a white block marks the top-left corner."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[..., 0] = index * 20
    rgb[..., 1] = 7
    rgb[..., 2] = 200
    rgb[:4, :6] = 255
    return rgb


def frame_index(frame: Frame) -> int:
    """Which recorded frame this is; asserts the content is exactly one of them."""
    index = int(frame.rgb[-1, -1, 0]) // 20
    assert np.array_equal(frame.rgb, recorded_frame(index)), "content differs from every recorded frame"
    return index


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("realsense") / "synthetic.db3"
    assert write_realsense_recording(path, (recorded_frame(i) for i in range(FRAMES)), fps=30) == FRAMES
    return path


def playback(path: Path, loop: bool = True) -> RealSenseSource:
    return RealSenseSource(RealSenseSourceConfig(type="realsense", recording=path, loop=loop))


def read_until(source: RealSenseSource, count: int, deadline_s: float = 10.0) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + deadline_s
    while len(frames) < count and time.monotonic() < deadline:
        frame = source.read(timeout_s=0.5)
        if frame is not None:
            frames.append(frame)
    return frames


def test_recording_plays_back_through_the_pipeline_and_loops(recording: Path) -> None:
    source = playback(recording)
    source.open()
    try:
        frames = read_until(source, 2 * FRAMES + 5)
    finally:
        source.close()
    assert len(frames) == 2 * FRAMES + 5
    assert all(frame.rgb.shape == (HEIGHT, WIDTH, 3) and frame.rgb.dtype == np.uint8 for frame in frames)
    indices = [frame_index(frame) for frame in frames]
    assert indices.count(0) >= 2 and indices.count(FRAMES - 1) >= 2  # looped at least once
    assert [frame.sequence for frame in frames] == list(range(len(frames)))
    stamps = [frame.media_ts_ms for frame in frames]
    assert all(later > earlier for earlier, later in itertools.pairwise(stamps)), stamps


def test_recording_without_loop_ends(recording: Path) -> None:
    source = playback(recording, loop=False)
    source.open()
    try:
        deadline = time.monotonic() + 10.0
        with pytest.raises(EOFError):
            while time.monotonic() < deadline:
                source.read(timeout_s=0.2)
    finally:
        source.close()


def test_bed_capture_plays_a_recording(recording: Path) -> None:
    config = RealSenseSourceConfig(type="realsense", recording=recording)
    capture = BedCapture.from_config("bed-rs", config, CaptureConfig())
    capture.start()
    try:
        first = capture.wait_next(-1, timeout_s=10.0)
        assert first is not None
        second = capture.wait_next(first.sequence, timeout_s=5.0)
        assert second is not None and second.sequence > first.sequence
        assert capture.state == "ok"
        frame_index(first), frame_index(second)
    finally:
        assert capture.stop(timeout_s=5.0)
    assert capture.state == "no_signal" and capture.state_reason == "stopped"


def test_missing_recording_and_absent_camera_fail_to_open(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="recording not found"):
        playback(tmp_path / "absent.db3").open()
    garbage = tmp_path / "garbage.db3"
    garbage.write_bytes(b"x" * 1000)
    with pytest.raises(SourceError, match="cannot start the RealSense pipeline"):
        playback(garbage).open()
    # no camera is attached to this machine: the live path says so at once instead of blocking in the SDK
    for serial in ("000000000000", None):
        with pytest.raises(SourceError, match="camera not connected"):
            RealSenseSource(RealSenseSourceConfig(type="realsense", serial=serial)).open()
