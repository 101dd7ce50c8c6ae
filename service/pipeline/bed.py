"""One monitored bed at run time: its capture, analysis worker and broadcaster, and what REST reports.

The bed offers two supervised components (`components()`): its analysis worker and its capture. When one fails,
the supervisor restarts it and tells the bed (`report_problem`), which then publishes `stale` with the reason at
1 Hz, so the dashboard says why and the bed's technical alert opens even though no frame is analysed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from service.config import BedConfig, ServiceSettings
from service.inference import InferenceEngine
from service.metrics import ServiceMetrics
from service.pipeline.broadcaster import Broadcaster
from service.pipeline.messages import BedFrameMessage, BedState, BedSummary
from service.pipeline.worker import BedWorker, CaptureLike, FrameHook, WorkerOptions
from service.supervision import HEALTHY, Health, Supervised
from service.vision.detectors import FaceDetector, create_detector

logger = logging.getLogger(__name__)

CaptureFactory = Callable[[BedConfig], CaptureLike]


def real_capture(bed: BedConfig) -> CaptureLike:
    """The sources package's capture thread for this bed (imported here: only a running service needs it)."""
    from service.sources.capture import BedCapture

    return BedCapture.from_config(bed.id, bed.source, bed.capture)


class BedRuntime:
    def __init__(
        self,
        config: BedConfig,
        settings: ServiceSettings,
        engine: InferenceEngine,
        metrics: ServiceMetrics | None = None,
        capture_factory: CaptureFactory = real_capture,
        on_message: Callable[[BedFrameMessage], None] | None = None,
        on_frame: FrameHook | None = None,
    ) -> None:
        self.config = config
        self.stale_after_s = settings.stream.stale_after_s
        self._capture_factory = capture_factory
        self.stall_after_s = settings.supervision.stall_after_s
        self.problem: str | None = None
        """Set by the supervisor while the worker or the capture is dead or stalled."""
        self._problem_published = 0.0
        self.capture = capture_factory(config)
        self.broadcaster = Broadcaster(config.id, settings.stream.client_queue)
        options = WorkerOptions(
            scale=config.scale,
            aggregation=settings.aggregation,
            analysis_rate_hz=config.analysis_rate_hz,
            heatmap_hz=settings.stream.heatmap_hz,
            jpeg_quality=settings.stream.jpeg_quality,
            infer_timeout_s=settings.model.infer_timeout_s,
            stall_after_s=settings.supervision.stall_after_s,
        )
        self.worker = BedWorker(
            config.id,
            self.capture,
            self._make_detector,
            engine,
            self.broadcaster,
            options,
            metrics,
            on_message,
            on_frame,
        )

    @property
    def bed_id(self) -> str:
        return self.config.id

    def _make_detector(self) -> FaceDetector:
        detector = self.config.detector
        return create_detector(detector.name, mode="video", min_score=detector.min_score)

    def components(self) -> list[Supervised]:
        """The capture first (the worker reads from it), then the analysis worker."""
        return [_CaptureUnit(self), _WorkerUnit(self)]

    def start(self) -> None:
        self.capture.start()
        self.worker.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop analysing, close the source, and tell this bed's WebSocket clients to close."""
        self.worker.stop(timeout_s / 2)
        self.capture.stop(timeout_s / 2)
        self.broadcaster.close_all()

    def report_problem(self, problem: str | None) -> None:
        """From the supervisor: the worker or capture is failing (None: recovered). Published as `stale` at 1 Hz."""
        self.problem = problem
        now = time.monotonic()
        if problem is not None and now - self._problem_published >= 1.0:
            self._problem_published = now
            self.worker.publish_problem(problem)

    def replace_capture(self) -> None:
        """A capture whose threads died or hang in a source call is abandoned; a new one opens the source."""
        old = self.capture
        old.stop(0.2)
        self.capture = self._capture_factory(self.config)
        self.capture.start()
        self.worker.use_capture(self.capture)

    @property
    def source_open(self) -> bool:
        return self.capture.state == "ok"

    def summary(self, now: float | None = None) -> BedSummary:
        """The bed's latest state; a result older than stale_after_s is not shown as current."""
        now = time.time() if now is None else now
        base = BedSummary(
            bed_id=self.bed_id,
            label=self.config.label,
            scale=self.config.scale,
            state=BedState.STARTING,
            state_reason="nothing analysed yet",
            analysed_fps=self.worker.analysed_fps,
        )
        message = self.worker.last_message
        if self.problem is not None:
            base.state, base.state_reason = BedState.STALE, f"analysis stalled: {self.problem}"
            base.last_update_ts = message.published_ts if message is not None else None
            return base
        if message is None:
            return base
        age = time.monotonic() - self.worker.last_published  # monotonic: a clock step never hides staleness
        if age > self.stale_after_s:
            base.state = BedState.STALE
            base.state_reason = f"the last analysis is {age:.1f} s old"
            base.last_update_ts = message.published_ts
            return base
        return BedSummary(
            bed_id=self.bed_id,
            label=self.config.label,
            scale=self.config.scale,
            state=message.state,
            state_reason=message.state_reason,
            pain_probability=message.pain_probability,
            smoothed_probability=message.smoothed_probability,
            pain_fraction=message.pain_fraction,
            estimated_score=message.estimated_score,
            face_visible_share=message.face_visible_share,
            low_evidence=message.low_evidence,
            analysed_fps=self.worker.analysed_fps,
            last_update_ts=message.published_ts,
        )


class _WorkerUnit:
    """The bed's analysis worker as the supervisor sees it."""

    def __init__(self, bed: BedRuntime) -> None:
        self._bed = bed

    @property
    def name(self) -> str:
        return f"bed-{self._bed.bed_id}/worker"

    @property
    def bed_id(self) -> str | None:
        return self._bed.bed_id

    def start(self) -> None:
        self._bed.worker.start()

    def restart(self) -> None:
        self._bed.worker.restart()

    def stop(self, timeout_s: float) -> None:
        self._bed.worker.stop(timeout_s)
        self._bed.broadcaster.close_all()

    def health(self, now_mono: float) -> Health:
        return self._bed.worker.health(now_mono)


class _CaptureUnit:
    """The bed's capture (its own watchdog handles source faults; this catches dead or hung capture threads)."""

    def __init__(self, bed: BedRuntime) -> None:
        self._bed = bed

    @property
    def name(self) -> str:
        return f"bed-{self._bed.bed_id}/capture"

    @property
    def bed_id(self) -> str | None:
        return self._bed.bed_id

    def start(self) -> None:
        self._bed.capture.start()

    def restart(self) -> None:
        self._bed.replace_capture()

    def stop(self, timeout_s: float) -> None:
        self._bed.capture.stop(timeout_s)

    def health(self, now_mono: float) -> Health:
        capture = self._bed.capture
        if not capture.alive:
            return Health(False, "capture thread died")
        stuck = capture.stuck_for_s
        if stuck is not None and stuck > self._bed.stall_after_s:
            return Health(False, f"capture stuck in a source call for {stuck:.0f} s")
        return HEALTHY
