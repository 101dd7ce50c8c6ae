"""Run the bedside pipeline offline over a video file: deterministic and faster than real time.

Per analysed frame it does what a bed's worker does (`service/pipeline/worker.py`), with the same parts: the
registry's face detector in video mode, `best_face`, `crop_face`, the shared `InferenceEngine` (contract checks,
invalid outputs -> model_error), the bed's `BedAggregator` (time-weighted window, scale rule), and the pure
`AlertEngine`, whose clock is an `Instant` driven by the video's timestamps (t = frame index / fps) instead of
the wall clock. So nothing waits on real time and the same file always gives the same result.

Differences from the live worker, on purpose: frames are never dropped for load (the analysis rate is in video
time), and the window summary is taken at the frame's own time rather than after inference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from service.aggregation import AggregationParams, BedAggregator, Observation, Scale
from service.alerts.engine import AlertEngine, Change, Reading
from service.alerts.models import AlertKind, EventType
from service.alerts.params import AlertParams
from service.clock import Instant
from service.errors import UserError
from service.inference import InferenceEngine, InvalidModelOutput, ModelUnavailable
from service.model_card import ModelCard
from service.vision.crop import crop_face
from service.vision.detectors import FaceDetector, best_face, create_detector
from service.vision.video import VideoError, probe_video

logger = logging.getLogger(__name__)

BED_ID = "replay"


@dataclass(frozen=True)
class ReplayOptions:
    scale: Scale = Scale.DAN
    aggregation: AggregationParams = field(default_factory=AggregationParams)
    alerts: AlertParams = field(default_factory=AlertParams)
    detector: str = "mediapipe-short"
    min_score: float = 0.5
    rate_hz: float | None = 5.0
    """Analysed frames per second of video (None or 0: every frame). The live service manages about 5 per bed on
    2 CPU cores with the thesis-sized model (README, benchmark)."""
    models_dir: Path | None = None
    providers: list[str] | None = None
    infer_timeout_s: float = 60.0


@dataclass(frozen=True)
class FrameRecord:
    """One analysed frame, as the bed would have published it."""

    index: int
    t: float
    state: str
    """ok, no_face or model_error."""
    detector_score: float | None
    probability: float | None
    smoothed: float | None
    pain_fraction: float | None
    estimated_score: int | None
    face_visible_share: float
    low_evidence: bool


@dataclass
class AlertSpan:
    """One alert from open to close (None: still open when the video ended), in video seconds."""

    kind: str
    opened_s: float
    closed_s: float | None = None
    priority: str = "medium"
    peak_score: int | None = None
    reason: str = ""


@dataclass
class ReplayResult:
    video: Path
    fps: float
    frame_count: int
    duration_s: float
    options: ReplayOptions
    model: ModelCard
    model_file: Path
    frames: list[FrameRecord] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    """Every observation the bed's aggregator received, in order (for window scores over any span)."""
    alerts: list[AlertSpan] = field(default_factory=list)

    @property
    def pain_alerts(self) -> list[AlertSpan]:
        return [a for a in self.alerts if a.kind == AlertKind.PAIN_EPISODE.value]


Progress = Callable[[int, int], None]
"""(frames decoded, frames in the video)."""


def replay_video(
    video: Path, model_path: Path, options: ReplayOptions | None = None, progress: Progress | None = None
) -> ReplayResult:
    """Analyse `video` with the model at `model_path` as one bed would; raises UserError for bad input."""
    options = options or ReplayOptions()
    video = Path(video)
    if not video.is_file():
        raise UserError(f"{video}: video file not found")
    try:
        info = probe_video(video)
    except VideoError as exc:
        raise UserError(str(exc)) from exc
    engine = InferenceEngine(model_path, options.providers, max_batch=1, max_wait_ms=0.0)
    detector = create_detector(options.detector, mode="video", min_score=options.min_score,
                               models_dir=options.models_dir)  # fmt: skip
    aggregator = _RecordingAggregator(options.scale, options.aggregation)
    alerts = AlertEngine({BED_ID: (options.scale, options.alerts)}, started=Instant.at(0.0))
    result = ReplayResult(video, info.fps, info.frame_count, info.duration_s, options, engine.card, engine.model.path)
    open_spans: dict[str, AlertSpan] = {}
    step = 1.0 / options.rate_hz if options.rate_hz else 0.0
    capture = cv2.VideoCapture(str(video))
    engine.start()
    try:
        next_due, index = 0.0, 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            t = index / info.fps
            if t + 1e-9 >= next_due:
                next_due = t + step
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                record = _analyse(index, t, rgb, detector, engine, aggregator, options)
                result.frames.append(record)
                reading = Reading(BED_ID, Instant.at(t), record.state, record.estimated_score, record.low_evidence)
                _track_alerts(alerts.observe(reading), t, open_spans, result.alerts)
            index += 1
            if progress is not None:
                progress(index, info.frame_count)
    finally:
        capture.release()
        detector.close()
        engine.stop()
    if index == 0:
        raise UserError(f"{video}: no frame could be decoded")
    result.frame_count = index
    result.duration_s = index / info.fps
    result.observations = list(aggregator.history)
    return result


class _RecordingAggregator(BedAggregator):
    """The bed's aggregator, also keeping every observation (the live one keeps only its window)."""

    def __init__(self, scale: Scale, params: AggregationParams) -> None:
        super().__init__(scale, params)
        self.history: list[Observation] = []

    def _append(self, obs: Observation) -> None:
        super()._append(obs)
        self.history.append(obs)


def _analyse(
    index: int,
    t: float,
    rgb: np.ndarray,
    detector: FaceDetector,
    engine: InferenceEngine,
    aggregator: BedAggregator,
    options: ReplayOptions,
) -> FrameRecord:
    face = best_face(detector.detect(rgb, round(t * 1000)))
    if face is None or face.w < 2 or face.h < 2:  # the worker's rule for "no face"
        aggregator.add_no_face(t)
        return _record(index, t, "no_face", None, None, None, aggregator)
    crop, _region = crop_face(rgb, face)
    try:
        outcome = engine.infer(crop, timeout_s=options.infer_timeout_s)
    except (InvalidModelOutput, ModelUnavailable, FutureTimeout) as exc:
        logger.warning("frame %d (%.2f s): model_error: %s", index, t, exc)
        aggregator.add_unknown(t)
        return _record(index, t, "model_error", face.score, None, None, aggregator)
    smoothed = aggregator.add_face(t, outcome.pain_probability)
    return _record(index, t, "ok", face.score, outcome.pain_probability, smoothed, aggregator)


def _record(
    index: int,
    t: float,
    state: str,
    detector_score: float | None,
    probability: float | None,
    smoothed: float | None,
    aggregator: BedAggregator,
) -> FrameRecord:
    summary = aggregator.summary(t)
    return FrameRecord(
        index=index,
        t=t,
        state=state,
        detector_score=None if detector_score is None else min(1.0, max(0.0, detector_score)),
        probability=probability,
        smoothed=smoothed,
        pain_fraction=summary.pain_fraction,
        estimated_score=summary.estimated_score,
        face_visible_share=summary.face_visible_share,
        low_evidence=summary.low_evidence,
    )


def _track_alerts(changes: list[Change], t: float, open_spans: dict[str, AlertSpan], spans: list[AlertSpan]) -> None:
    for change in changes:
        alert = change.alert
        if alert is None:
            continue
        kind = change.event.type
        if kind is EventType.OPENED:
            span = AlertSpan(alert.kind.value, t, None, alert.priority.value, alert.peak_score, alert.reason)
            open_spans[alert.id] = span
            spans.append(span)
            continue
        span_or_none = open_spans.get(alert.id)
        if span_or_none is None:
            continue
        span_or_none.priority = alert.priority.value
        span_or_none.peak_score = alert.peak_score
        if kind is EventType.CLOSED:
            span_or_none.closed_s = t
            del open_spans[alert.id]
