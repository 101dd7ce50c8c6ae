"""BedCapture against sources that fail the ways real cameras do, written here as small FrameSources."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from service.sources.backoff import Backoff
from service.sources.base import Frame, SourceError
from service.sources.capture import BedCapture, StateCallback
from service.sources.config import CaptureConfig, VideoSourceConfig
from service.sources.frame_check import frame_problem
from service.sources.latest import LatestFrameSlot
from service.sources.timestamps import IncreasingTimestamps

FAST = CaptureConfig(
    no_signal_after_s=0.5,
    read_timeout_s=0.05,
    backoff_initial_s=0.05,
    backoff_max_s=0.4,
    backoff_reset_after_s=60.0,
    watchdog_interval_s=0.05,
)
SCHEDULED_DELAYS = [0.05, 0.1, 0.2, 0.4, 0.4]
NO_SIGNAL_WITHIN_S = 2.0


def make_frame(index: int, size: tuple[int, int] = (6, 8)) -> Frame:
    rgb = np.full((*size, 3), index % 256, np.uint8)
    return Frame(rgb=rgb, capture_ts=time.time(), sequence=index, media_ts_ms=index * 5)


class ScriptedSource:
    """Delivers small frames every `period_s` until told to fail, in the way named by `mode`."""

    name = "scripted"

    def __init__(self, mode: str = "ok", period_s: float = 0.005, failing_opens: int = 0) -> None:
        self.mode = mode
        self.period_s = period_s
        self.failing_opens = failing_opens
        self.open_times: list[float] = []
        self.closes = 0
        self.unblock = threading.Event()
        self.produced: list[weakref.ref[np.ndarray]] = []
        self._index = 0

    def open(self) -> None:
        self.open_times.append(time.monotonic())
        if self.failing_opens > 0:
            self.failing_opens -= 1
            raise SourceError("camera unplugged")
        self._index = 0  # a reopened source starts its own sequence and clock again

    def read(self, timeout_s: float) -> Frame | None:
        mode = self.mode
        if mode == "raise":
            raise RuntimeError("USB transfer failed")
        if mode == "end":
            raise EOFError("stream closed by the camera")
        if mode == "hang":  # honours the timeout, delivers nothing
            time.sleep(timeout_s)
            return None
        if mode == "block":  # a native call that ignores the timeout
            self.unblock.wait()
            return None
        if mode == "garbage":
            return Frame(rgb=np.zeros((6, 8), np.float32), capture_ts=time.time(), sequence=0, media_ts_ms=0)
        time.sleep(self.period_s)
        frame = make_frame(self._index)
        self.produced.append(weakref.ref(frame.rgb))
        self._index += 1
        return frame

    def close(self) -> None:
        self.closes += 1


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Seconds until `condition` held; fails the test if it never did."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "condition not reached in time"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def captures() -> Iterator[list[BedCapture]]:
    started: list[BedCapture] = []
    yield started
    for capture in started:
        capture.stop(timeout_s=1.0)


def start_capture(
    captures: list[BedCapture],
    source: ScriptedSource,
    config: CaptureConfig = FAST,
    on_state: StateCallback | None = None,
) -> BedCapture:
    capture = BedCapture(f"bed-{len(captures)}", source, config, on_state)
    captures.append(capture)
    capture.start()
    return capture


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("raise", "read failed: RuntimeError: USB transfer failed"),
        ("end", "source ended"),
        ("hang", "no frame for"),
        ("garbage", "invalid frame: pixels are float32"),
    ],
)
def test_fault_marks_no_signal_reopens_with_growing_backoff_and_recovers(
    captures: list[BedCapture], fault: str, reason: str
) -> None:
    states: list[tuple[str, str]] = []
    source = ScriptedSource()
    capture = start_capture(captures, source, on_state=lambda state, why: states.append((state, why)))
    wait_until(lambda: capture.state == "ok")

    source.mode = fault
    assert wait_until(lambda: capture.state == "no_signal") < NO_SIGNAL_WITHIN_S
    assert reason in capture.state_reason
    wait_until(lambda: len(source.open_times) >= 5, timeout_s=10.0)

    # each reopen waited at least its scheduled delay, and the delays grew up to the cap
    gaps = [later - earlier for earlier, later in itertools.pairwise(source.open_times)]
    for gap, delay in zip(gaps, SCHEDULED_DELAYS, strict=False):
        assert gap >= delay - 0.005, (gaps, SCHEDULED_DELAYS)
    assert capture.next_backoff_s == FAST.backoff_max_s
    assert capture.reopen_count >= 4 and source.closes >= 4

    source.mode = "ok"  # the camera comes back
    wait_until(lambda: capture.state == "ok", timeout_s=5.0)
    assert capture.state_reason == "receiving frames"
    # starting is already no_signal, so the callback hears only changes: up, down (why), up again
    assert [state for state, _ in states][:3] == ["ok", "no_signal", "ok"]
    assert reason in states[1][1]


def test_failing_open_is_retried_until_the_camera_appears(captures: list[BedCapture]) -> None:
    source = ScriptedSource(failing_opens=3)
    capture = start_capture(captures, source)
    wait_until(lambda: capture.state == "ok")
    assert len(source.open_times) == 4 and capture.reopen_count == 3
    assert capture.frames_captured > 0 and capture.last_frame_ts is not None


def test_read_stuck_in_native_code_is_reported_and_stop_returns(captures: list[BedCapture]) -> None:
    source = ScriptedSource()
    capture = start_capture(captures, source)
    wait_until(lambda: capture.state == "ok")
    source.mode = "block"
    assert wait_until(lambda: capture.state == "no_signal") < NO_SIGNAL_WITHIN_S
    assert capture.state_reason.startswith("no frame for")
    wait_until(lambda: capture.stuck_call is not None)
    assert capture.stuck_call is not None and capture.stuck_call.startswith("read for")

    started = time.monotonic()
    assert capture.stop(timeout_s=0.3) is False  # the worker cannot be interrupted: left behind, reported
    assert time.monotonic() - started < 1.0
    assert "worker stuck in read" in capture.state_reason
    source.unblock.set()  # the native call returns: the abandoned worker closes its source and ends
    wait_until(lambda: source.closes >= 1)


def test_stuck_capture_never_stalls_another_bed(captures: list[BedCapture]) -> None:
    stuck_source, healthy_source = ScriptedSource(mode="block"), ScriptedSource()
    stuck = start_capture(captures, stuck_source)
    healthy = start_capture(captures, healthy_source)
    wait_until(lambda: healthy.frames_captured >= 5)
    before = healthy.frames_captured
    time.sleep(FAST.no_signal_after_s + 0.2)  # long enough for the stuck bed to be declared dead
    assert stuck.state == "no_signal" and stuck.frames_captured == 0
    assert healthy.state == "ok" and healthy.frames_captured > before
    stuck_source.unblock.set()


def test_slow_consumer_skips_frames_and_only_the_newest_is_held(captures: list[BedCapture]) -> None:
    source = ScriptedSource(period_s=0.002)
    capture = start_capture(captures, source)
    seen: list[int] = []
    last = -1
    for _ in range(8):
        frame = capture.wait_next(last, timeout_s=2.0)
        assert frame is not None and frame.sequence > last
        seen.append(frame.sequence)
        last = frame.sequence
        del frame
        time.sleep(0.05)  # a consumer much slower than the source
    assert any(later - earlier > 1 for earlier, later in itertools.pairwise(seen)), seen
    assert capture.frames_dropped > 0
    assert capture.frames_captured >= capture.frames_dropped + len(seen) - 1
    gc.collect()
    alive = sum(ref() is not None for ref in source.produced)
    # the slot's frame and at most one in flight in the worker: nothing queues
    assert len(source.produced) > 50 and alive <= 2, (len(source.produced), alive)


def test_sequence_and_media_time_keep_increasing_across_reopens(captures: list[BedCapture]) -> None:
    source = ScriptedSource()
    capture = start_capture(captures, source)
    first = capture.wait_next(-1, timeout_s=2.0)
    assert first is not None
    source.mode = "end"
    wait_until(lambda: capture.state == "no_signal")
    source.mode = "ok"  # reopened: the source restarts its own sequence and clock at 0
    wait_until(lambda: capture.reopen_count >= 1 and capture.state == "ok")
    later = capture.wait_next(first.sequence, timeout_s=2.0)
    assert later is not None
    assert later.sequence > first.sequence and later.media_ts_ms > first.media_ts_ms


def test_backoff_resets_after_a_healthy_period(captures: list[BedCapture]) -> None:
    config = FAST.model_copy(update={"backoff_reset_after_s": 0.3})
    source = ScriptedSource(failing_opens=3)
    capture = start_capture(captures, source, config)
    wait_until(lambda: capture.state == "ok")
    assert capture.next_backoff_s == 0.4  # three failures so far
    wait_until(lambda: capture.next_backoff_s == config.backoff_initial_s, timeout_s=3.0)


def test_a_failing_state_callback_does_not_break_capture(captures: list[BedCapture]) -> None:
    def broken_callback(state: str, reason: str) -> None:
        raise ValueError("dashboard down")

    capture = start_capture(captures, ScriptedSource(), on_state=broken_callback)
    wait_until(lambda: capture.frames_captured >= 5)
    assert capture.state == "ok"


def test_wait_next_returns_none_on_timeout_and_on_stop(captures: list[BedCapture]) -> None:
    capture = start_capture(captures, ScriptedSource(mode="hang"))
    assert capture.latest() is None
    assert capture.wait_next(-1, timeout_s=0.1) is None
    result: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: result.append(capture.wait_next(-1, timeout_s=10.0)))
    waiter.start()
    time.sleep(0.1)
    assert capture.stop(timeout_s=2.0)
    waiter.join(timeout=2.0)
    assert result == [None]


def test_video_file_bed_reopens_after_the_file_ends(
    captures: list[BedCapture], make_video: Callable[..., Path]
) -> None:
    config = VideoSourceConfig(type="video", path=make_video(seconds=0.4, fps=15.0), loop=False)
    capture = BedCapture.from_config("bed-video", config, FAST)
    captures.append(capture)
    capture.start()
    wait_until(lambda: capture.reopen_count >= 1)
    assert "source ended" in capture.state_reason or capture.state == "ok"
    wait_until(lambda: capture.frames_captured > 6)  # played again after the reopen


@pytest.mark.parametrize(
    ("rgb", "problem"),
    [
        (np.zeros((4, 4, 3), np.float32), "float32"),
        (np.zeros((4, 4), np.uint8), "shape (4, 4)"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 4), np.uint8), "shape (4, 4, 4)"),
        (None, "NoneType"),
    ],
)
def test_garbage_frames_are_recognised(rgb: object, problem: str) -> None:
    frame = Frame(rgb=rgb, capture_ts=0.0, sequence=0, media_ts_ms=0)  # type: ignore[arg-type]
    assert problem in (frame_problem(frame) or "")


def test_a_constant_frame_is_not_garbage() -> None:
    assert frame_problem(Frame(rgb=np.zeros((4, 4, 3), np.uint8), capture_ts=0.0, sequence=0, media_ts_ms=0)) is None
    assert frame_problem("frame") == "not a Frame but str"


def test_slot_counts_frames_replaced_before_anyone_took_them() -> None:
    slot = LatestFrameSlot()
    slot.put(make_frame(0))
    slot.put(make_frame(1))  # frame 0 was never taken
    taken = slot.latest()
    slot.put(make_frame(2))  # frame 1 was taken: not dropped
    assert taken is not None and taken.sequence == 1 and slot.frames_dropped == 1
    assert slot.wait_newer(2, timeout_s=0.01) is None
    newest = slot.wait_newer(1, timeout_s=0.01)
    assert newest is not None and newest.sequence == 2


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 3.0, factor=2.0)
    assert [backoff.take() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.take() == 0.5


def test_timestamps_stay_increasing_when_the_source_clock_restarts() -> None:
    stamps = IncreasingTimestamps(step_ms=33)
    assert [stamps(t) for t in (0, 33, 66, 0, 33, 33.2)] == [0, 33, 66, 99, 132, 133]
