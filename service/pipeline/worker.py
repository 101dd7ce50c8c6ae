"""The per-bed analysis loop: newest frame -> face -> crop -> shared engine -> aggregation -> message -> publish.

It runs in its own thread, takes the newest frame from the bed's capture (older ones are skipped, never
queued), and never waits on a client: publishing hands the message to the broadcaster and returns.
Whenever pain cannot be known for *this* frame (no face, no frame, no model result) the probability is null
and the state says why; a previous value is never repeated as current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from service.aggregation import AggregationParams, BedAggregator, Scale, WindowSummary
from service.inference import InferenceEngine, InferenceResult, InvalidModelOutput, ModelUnavailable
from service.metrics import ServiceMetrics
from service.pipeline.broadcaster import Broadcaster, Outgoing
from service.pipeline.messages import BedFrameMessage, BedState, FaceBoxOut, ModelRef, StageTimings
from service.sources.base import Frame
from service.supervision import HEALTHY, Health
from service.vision.crop import SquareBox, crop_face
from service.vision.detectors import FaceBox, FaceDetector, best_face
from service.vision.heatmap import overlay
from service.vision.jpeg import encode_jpeg

logger = logging.getLogger(__name__)

_WAIT_SLICE_S = 0.25
"""Longest single wait for a frame, so stop requests and no-signal checks stay responsive."""
_FPS_SPAN_S = 5.0
_FACE_RATIO_FRAMES = 100

FrameHook = Callable[[BedFrameMessage, np.ndarray, np.ndarray, SquareBox], None]
"""(message, face crop RGB, pain-class Grad-CAM map in [0, 1], crop region in the frame)."""


class CaptureLike(Protocol):
    """What the worker needs from a bed's capture (`service.sources.capture.BedCapture`)."""

    @property
    def state(self) -> str: ...

    @property
    def state_reason(self) -> str | None: ...

    @property
    def frames_captured(self) -> int: ...

    @property
    def frames_dropped(self) -> int: ...

    @property
    def reopen_count(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    @property
    def stuck_for_s(self) -> float | None: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = ...) -> object: ...

    def latest(self) -> Frame | None: ...

    def wait_next(self, after_sequence: int, timeout_s: float) -> Frame | None: ...


@dataclass(frozen=True)
class WorkerOptions:
    scale: Scale
    aggregation: AggregationParams
    analysis_rate_hz: float | None = None
    """At most this many analysed frames per second (None = as fast as frames and the model allow)."""
    heatmap_hz: float = 2.0
    """Grad-CAM JPEGs per second at most (0 = never)."""
    jpeg_quality: int = 80
    infer_timeout_s: float = 10.0
    no_signal_message_hz: float = 1.0
    stall_after_s: float = 20.0
    """No loop round, or no frame analysed while frames arrive, for this long: the worker is stalled."""


class BedWorker:
    def __init__(
        self,
        bed_id: str,
        capture: CaptureLike,
        detector_factory: Callable[[], FaceDetector],
        engine: InferenceEngine,
        broadcaster: Broadcaster,
        options: WorkerOptions,
        metrics: ServiceMetrics | None = None,
        on_message: Callable[[BedFrameMessage], None] | None = None,
        on_frame: FrameHook | None = None,
    ) -> None:
        self.bed_id = bed_id
        self.on_message = on_message
        """Called with every published message (the alert center); must not block."""
        self.on_frame = on_frame
        """Called after each scored frame's message with its crop, Grad-CAM map and crop region (review
        snapshots); must not block and must copy what it keeps."""
        self.capture = capture
        self.engine = engine
        self.broadcaster = broadcaster
        self.options = options
        self.metrics = metrics
        self.aggregator = BedAggregator(options.scale, options.aggregation)
        self._detector_factory = detector_factory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stage = "starting"
        self.heartbeat = time.monotonic()
        """Monotonic time of the loop's last round (a frame, or a wait for one)."""
        self.last_frame_taken = time.monotonic()
        self.last_published = time.monotonic()
        self._analysed_at: deque[float] = deque()
        self._face_flags: deque[bool] = deque(maxlen=_FACE_RATIO_FRAMES)
        self._last_heatmap = 0.0
        self._last_status_message = 0.0
        self.last_message: BedFrameMessage | None = None
        self.frames_analysed = 0
        self.errors = 0

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop = threading.Event()  # a fresh one per thread: an abandoned (hung) thread keeps its own, set
        started = time.monotonic()
        self.heartbeat = self.last_frame_taken = self.last_published = started
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=f"bed-{self.bed_id}", daemon=True)
        self._thread.start()

    def restart(self) -> None:
        """A new analysis thread with a new detector; a hung one is abandoned and never publishes again."""
        self._stop.set()
        self.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self, now_mono: float) -> Health:
        stall = self.options.stall_after_s
        if not self.alive:
            return Health(False, "analysis thread died")
        if now_mono - self.heartbeat > stall:
            return Health(False, f"analysis stuck in {self._stage} for {now_mono - self.heartbeat:.0f} s")
        if now_mono - self.last_published > stall and now_mono - self.last_frame_taken < stall:
            return Health(False, f"no frame analysed for {now_mono - self.last_published:.0f} s while frames arrive")
        return HEALTHY

    def use_capture(self, capture: CaptureLike) -> None:
        """Read frames from a new capture (the supervisor replaced a hung one)."""
        self.capture = capture

    def publish_problem(self, reason: str) -> None:
        """From the supervisor while this worker is dead or stalled: the bed is `stale` (unknown), with why."""
        now = time.time()
        message = BedFrameMessage(
            bed_id=self.bed_id, sequence=-1, capture_ts=now, published_ts=now, state=BedState.STALE,
            state_reason=f"analysis stalled: {reason}", window_s=self.options.aggregation.window_s,
            scale=self.options.scale, face_visible_share=0.0, low_evidence=True, latency_ms=0.0,
        )  # fmt: skip
        self._deliver(message, None, None)

    @property
    def analysed_fps(self) -> float:
        now = time.monotonic()
        recent = [t for t in list(self._analysed_at) if now - t <= _FPS_SPAN_S]
        return len(recent) / _FPS_SPAN_S

    @property
    def face_found_ratio(self) -> float | None:
        flags = list(self._face_flags)
        return sum(flags) / len(flags) if flags else None

    # -- the loop --------------------------------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        self._stage = "detector start"
        detector = self._detector_factory()  # one detector per bed: VIDEO mode tracks across this bed's frames
        try:
            self._loop(detector, stop)
        except Exception:  # the supervisor sees the dead thread, alarms and restarts it
            logger.exception("bed %s: analysis loop crashed", self.bed_id)
            self.errors += 1
        finally:
            detector.close()

    def _loop(self, detector: FaceDetector, stop: threading.Event) -> None:
        last_sequence = -1
        next_due = 0.0
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            self._stage = "waiting for a frame"
            self._wait_until(next_due, stop)
            waited = time.perf_counter()
            frame = self.capture.wait_next(last_sequence, _WAIT_SLICE_S)
            wait_s = time.perf_counter() - waited
            if frame is None:
                last_sequence = self._sequence_after_reopen(last_sequence)
                self._report_missing_frames()
                continue
            last_sequence = frame.sequence
            self.last_frame_taken = started = time.monotonic()
            try:
                self._analyse(frame, detector, wait_s)
            except Exception:  # one bad frame must not end the bed's monitoring; many show as a stall
                logger.exception("bed %s: frame %d could not be analysed", self.bed_id, frame.sequence)
                self.errors += 1
            if self.options.analysis_rate_hz:
                next_due = started + 1.0 / self.options.analysis_rate_hz

    @staticmethod
    def _wait_until(due: float, stop: threading.Event) -> None:
        delay = due - time.monotonic()
        if delay > 0:
            stop.wait(delay)

    def _sequence_after_reopen(self, last_sequence: int) -> int:
        """A reopened source may number frames from 0 again; follow it instead of waiting for a higher number."""
        latest = self.capture.latest()
        if latest is not None and latest.sequence < last_sequence:
            return -1
        return last_sequence

    def _report_missing_frames(self) -> None:
        """No frame in this slice: once the capture says no_signal, publish that (rate-limited) as unknown."""
        if self.capture.state != BedState.NO_SIGNAL.value:
            return
        now, mono = time.time(), time.monotonic()
        self.aggregator.add_unknown(mono)
        if mono - self._last_status_message < 1.0 / max(self.options.no_signal_message_hz, 1e-6):
            return
        self._last_status_message = mono
        reason = self.capture.state_reason or "no frames from the source"
        message = self._message(None, now, BedState.NO_SIGNAL, reason, self.aggregator.summary(mono))
        self._publish(message, None, None)

    def _analyse(self, frame: Frame, detector: FaceDetector, wait_s: float) -> None:
        t0 = time.perf_counter()
        self._stage = "face detection"
        face = best_face(detector.detect(frame.rgb, frame.media_ts_ms))
        t1 = time.perf_counter()
        if face is None or face.w < 2 or face.h < 2:
            self._face_flags.append(False)
            self.aggregator.add_no_face(frame.capture_mono)
            summary = self.aggregator.summary(time.monotonic())
            timings = _timings(wait_s, t1 - t0)
            message = self._message(frame, frame.capture_ts, BedState.NO_FACE, "no face detected", summary, timings)
            self._finish(message, None, timings)
            return
        self._face_flags.append(True)
        crop, region = crop_face(frame.rgb, face)
        t2 = time.perf_counter()
        self._stage = "inference"
        result = self._infer(crop)
        t3 = time.perf_counter()
        self._stage = "publishing"
        if isinstance(result, str):
            self.aggregator.add_unknown(frame.capture_mono)
            summary = self.aggregator.summary(time.monotonic())
            timings = _timings(wait_s, t1 - t0, t2 - t1, t3 - t2)
            message = self._message(frame, frame.capture_ts, BedState.MODEL_ERROR, result, summary, timings, face)
            self._finish(message, None, timings)
            return
        smoothed = self.aggregator.add_face(frame.capture_mono, result.pain_probability)
        summary = self.aggregator.summary(time.monotonic())
        t4 = time.perf_counter()
        jpeg = self._heatmap_jpeg(crop, result.gradcam)
        t5 = time.perf_counter()
        timings = _timings(wait_s, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
        message = self._message(frame, frame.capture_ts, BedState.OK, None, summary, timings, face, result, smoothed)
        message.heatmap_follows = jpeg is not None
        self._finish(message, jpeg, timings)
        self._frame_hook(message, crop, result.gradcam, region)

    def _frame_hook(self, message: BedFrameMessage, crop: np.ndarray, cam: np.ndarray, region: SquareBox) -> None:
        if self.on_frame is None:
            return
        try:
            self.on_frame(message, crop, cam, region)
        except Exception:  # snapshot trouble must never stop the bed's monitoring
            logger.exception("bed %s: the frame hook failed", self.bed_id)

    def _infer(self, crop: np.ndarray) -> InferenceResult | str:
        """The engine's result, or the reason there is none."""
        try:
            return self.engine.infer(crop, timeout_s=self.options.infer_timeout_s)
        except InvalidModelOutput as exc:
            return str(exc)
        except ModelUnavailable as exc:
            return f"model unavailable: {exc}"
        except FutureTimeout:
            return f"no model result within {self.options.infer_timeout_s:g} s"

    def _heatmap_jpeg(self, crop: np.ndarray, cam: np.ndarray) -> bytes | None:
        hz = self.options.heatmap_hz
        now = time.monotonic()
        if hz <= 0 or now - self._last_heatmap < 1.0 / hz:
            return None
        self._last_heatmap = now
        try:
            return encode_jpeg(overlay(crop, cam), self.options.jpeg_quality)
        except ValueError:
            return None

    def _message(
        self,
        frame: Frame | None,
        capture_ts: float,
        state: BedState,
        reason: str | None,
        summary: WindowSummary,
        timings: StageTimings | None = None,
        face: FaceBox | None = None,
        result: InferenceResult | None = None,
        smoothed: float | None = None,
    ) -> BedFrameMessage:
        now = time.time()
        card = result.model if result is not None else self.engine.card
        return BedFrameMessage(
            bed_id=self.bed_id,
            sequence=frame.sequence if frame is not None else -1,
            capture_ts=capture_ts,
            published_ts=now,
            state=state,
            state_reason=reason,
            face=FaceBoxOut(x=face.x, y=face.y, w=face.w, h=face.h) if face is not None else None,
            detector_score=min(1.0, max(0.0, face.score)) if face is not None else None,
            pain_probability=result.pain_probability if result is not None else None,
            smoothed_probability=smoothed,
            window_s=summary.window_s,
            pain_fraction=summary.pain_fraction,
            estimated_score=summary.estimated_score,
            scale=self.options.scale,
            face_visible_share=summary.face_visible_share,
            low_evidence=summary.low_evidence,
            model=ModelRef(name=card.name, version=card.version, demo=card.demo),
            latency_ms=(now - capture_ts) * 1000.0 if frame is not None else 0.0,
            timings=timings,
        )

    def _finish(self, message: BedFrameMessage, jpeg: bytes | None, timings: StageTimings) -> None:
        self.frames_analysed += 1
        self._analysed_at.append(time.monotonic())
        while self._analysed_at and time.monotonic() - self._analysed_at[0] > _FPS_SPAN_S:
            self._analysed_at.popleft()
        self._publish(message, jpeg, timings)

    def _publish(self, message: BedFrameMessage, jpeg: bytes | None, timings: StageTimings | None) -> None:
        if threading.current_thread() is not self._thread:
            return  # an abandoned (restarted) thread that came back: its frame is not current any more
        self.last_published = time.monotonic()
        self._deliver(message, jpeg, timings)

    def _deliver(self, message: BedFrameMessage, jpeg: bytes | None, timings: StageTimings | None) -> None:
        started = time.perf_counter()
        message.latency_ms = (time.time() - message.capture_ts) * 1000.0 if message.sequence >= 0 else 0.0
        self.last_message = message
        self.broadcaster.publish(Outgoing(message.model_dump_json(), jpeg))
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception:  # alerting trouble must never stop the bed's monitoring
                logger.exception("bed %s: the message hook failed", self.bed_id)
        publish_s = time.perf_counter() - started
        if self.metrics is not None:
            self._record(message, timings, publish_s)

    def _record(self, message: BedFrameMessage, timings: StageTimings | None, publish_s: float) -> None:
        m, bed = self.metrics, self.bed_id
        assert m is not None
        for state in BedState:
            m.bed_state.labels(bed, state.value).set(1.0 if state is message.state else 0.0)
        if timings is None:
            return
        m.frames_analysed.labels(bed).inc()
        if message.face is not None:
            m.frames_with_face.labels(bed).inc()
        for stage, ms in timings.model_dump().items():
            m.stage_seconds.labels(bed, stage.removesuffix("_ms")).observe(ms / 1000.0)
        m.stage_seconds.labels(bed, "publish").observe(publish_s)
        m.capture_to_message.labels(bed).observe(message.latency_ms / 1000.0)


def _timings(
    wait_s: float, detect_s: float, crop_s: float = 0.0, infer_s: float = 0.0, agg_s: float = 0.0, enc_s: float = 0.0
) -> StageTimings:
    return StageTimings(
        capture_wait_ms=wait_s * 1000.0,
        detect_ms=detect_s * 1000.0,
        crop_ms=crop_s * 1000.0,
        infer_ms=infer_s * 1000.0,
        aggregate_ms=agg_s * 1000.0,
        encode_ms=enc_s * 1000.0,
    )
