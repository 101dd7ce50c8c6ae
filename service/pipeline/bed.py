"""One monitored bed at run time: its capture, analysis worker and broadcaster, and what REST reports."""

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
        self.capture = capture_factory(config)
        self.broadcaster = Broadcaster(config.id, settings.stream.client_queue)
        options = WorkerOptions(
            scale=config.scale,
            aggregation=settings.aggregation,
            analysis_rate_hz=config.analysis_rate_hz,
            heatmap_hz=settings.stream.heatmap_hz,
            jpeg_quality=settings.stream.jpeg_quality,
            infer_timeout_s=settings.model.infer_timeout_s,
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

    def start(self) -> None:
        self.capture.start()
        self.worker.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop analysing, close the source, and tell this bed's WebSocket clients to close."""
        self.worker.stop(timeout_s / 2)
        self.capture.stop(timeout_s / 2)
        self.broadcaster.close_all()

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
        if message is None:
            return base
        age = now - message.published_ts
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
