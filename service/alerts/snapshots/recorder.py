"""Review snapshots: at a pain episode's peak, the face crop, its pain-class Grad-CAM and the episode's score trace.

The recorder follows episodes in memory. Bed workers hand it every scored frame (`on_frame`: microseconds, it
compares one number and, at a new peak, copies the crop and the map); the alert center hands it episode changes and
1 Hz trend points (it is an `AlertListener`). What to write goes to the `SnapshotWriter` (its own thread).

While an episode is open its best snapshot so far is rewritten at most every `provisional_every_s` (a crash loses
little); the final one is written when the episode closes, and open episodes are written as they stand at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from service.alerts.models import Alert, AlertEventMessage, AlertKind, EventType
from service.alerts.snapshots.storage import (
    CAM_FILE,
    CROP_FILE,
    GRADCAM_FILE,
    SNAPSHOTS_DIR,
    TRACE_FILE,
    group_id_for,
    load_snapshot,
    read_trace,
    row_dict,
)
from service.alerts.snapshots.writer import Peak, SnapshotJob, SnapshotWriter
from service.config.settings import SnapshotConfig
from service.pipeline.messages import BedFrameMessage
from service.store.database import Store
from service.store.models import ScoreTrendRow
from service.vision.crop import SquareBox

logger = logging.getLogger(__name__)

_MAX_TREND_POINTS: Final = 86_400
"""A day of 1 Hz points: an episode longer than that keeps its first day (bounded memory)."""

WallClock = Callable[[], float]


@dataclass
class _Episode:
    alert_id: str
    bed_id: str
    opened_at: float
    peak: Peak | None = None
    peak_probability: float = -1.0
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    dirty: bool = False
    last_written: float = float("-inf")
    prior: dict[str, Any] | None = None
    """The stored row of an episode continued after a restart (its images stay until a better peak)."""


class SnapshotRecorder:
    def __init__(
        self,
        config: SnapshotConfig,
        data_dir: Path,
        writer: SnapshotWriter,
        detectors: dict[str, str],
        clock: WallClock = time.time,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.writer = writer
        self.detectors = detectors
        """Face detector name per bed id (recorded with the crop: the training format names it)."""
        self.clock = clock
        self._lock = threading.Lock()
        self._episodes: dict[str, _Episode] = {}
        self._frames: dict[str, deque[dict[str, Any]]] = {}

    def finish_open_episodes(self) -> None:
        """At shutdown: write every open episode's snapshot as it stands (provisional; continued after restart)."""
        with self._lock:
            jobs = [self._job(e, closed_at=None, final=False) for e in self._episodes.values() if e.dirty]
        for job in jobs:
            if job is not None:
                self.writer.submit(job)

    def resume(self, store: Store, alerts: list[Alert]) -> None:
        """Continue the open episodes of the last run: a stored peak is kept unless a better one comes."""
        for alert in alerts:
            if alert.kind is not AlertKind.PAIN_EPISODE or not alert.active:
                continue
            episode = _Episode(alert.id, alert.bed_id, alert.opened_at)
            row = load_snapshot(store, alert.id)
            if row is not None:
                episode.prior = row_dict(row)
                episode.peak_probability = row.probability
                trace = read_trace(self.data_dir, row)
                episode.trend = list(trace.get("trend", [])) if trace else []
                episode.before = list(trace.get("frames", [])) if trace else []
            with self._lock:
                self._episodes[alert.bed_id] = episode

    # -- from the alert center and the bed workers (never block) ---------------------------------------------
    def on_change(self, change: AlertEventMessage) -> None:
        alert = change.alert
        if alert is None or alert.kind is not AlertKind.PAIN_EPISODE:
            return
        job = None
        with self._lock:
            if change.event.type is EventType.OPENED:
                self._episodes[alert.bed_id] = _Episode(alert.id, alert.bed_id, alert.opened_at)
            elif change.event.type is EventType.CLOSED:
                episode = self._episodes.get(alert.bed_id)
                if episode is not None and episode.alert_id == alert.id:
                    del self._episodes[alert.bed_id]
                    job = self._job(episode, closed_at=alert.closed_at, final=True)
        if job is not None:
            self.writer.submit(job)

    def on_trend(self, row: ScoreTrendRow) -> None:
        point = {
            "ts": row.ts,
            "state": row.state,
            "smoothed_probability": row.smoothed_probability,
            "pain_fraction": row.pain_fraction,
            "estimated_score": row.estimated_score,
            "face_visible_share": row.face_visible_share,
            "low_evidence": row.low_evidence,
        }
        with self._lock:
            episode = self._episodes.get(row.bed_id)
            if episode is not None and len(episode.trend) < _MAX_TREND_POINTS:
                episode.trend.append(point)

    def on_frame(self, message: BedFrameMessage, crop: np.ndarray, cam: np.ndarray, region: SquareBox) -> None:
        smoothed = message.smoothed_probability
        if smoothed is None or message.face is None:  # the peak must show a face
            return
        point: dict[str, Any] = {
            "ts": message.capture_ts,
            "pain_probability": message.pain_probability,
            "smoothed_probability": smoothed,
        }
        job = None
        with self._lock:
            frames = self._recent(message.bed_id, point)
            episode = self._episodes.get(message.bed_id)
            if episode is None:
                return
            if episode.peak is not None and point["ts"] - episode.peak.ts <= self.config.around_peak_s:
                episode.after.append(point)
            if smoothed > episode.peak_probability:
                episode.peak = _new_peak(message, smoothed, crop, cam, region)
                episode.peak_probability = smoothed
                episode.before, episode.after, episode.dirty = list(frames), [], True
            now = time.monotonic()
            if episode.dirty and now - episode.last_written >= self.config.provisional_every_s:
                episode.dirty, episode.last_written = False, now
                job = self._job(episode, closed_at=None, final=False)
        if job is not None:
            self.writer.submit(job)

    # -- internals -------------------------------------------------------------------------------------------
    def _recent(self, bed_id: str, point: dict[str, Any]) -> deque[dict[str, Any]]:
        frames = self._frames.setdefault(bed_id, deque())
        frames.append(point)
        while frames and point["ts"] - frames[0]["ts"] > self.config.around_peak_s:
            frames.popleft()
        return frames

    def _job(self, episode: _Episode, closed_at: float | None, final: bool) -> SnapshotJob | None:
        """The snapshot to write now (under the lock: copies the lists); None without any face peak."""
        peak = episode.peak
        if peak is None and episode.prior is None:
            logger.info("episode %s closed without a face frame: no snapshot", episode.alert_id)
            return None
        folder = f"{SNAPSHOTS_DIR}/{episode.alert_id}"
        if peak is not None:
            row = {
                "alert_id": episode.alert_id, "bed_id": episode.bed_id,
                "group_id": group_id_for(self.config, episode.bed_id), "ts": peak.ts,
                "opened_at": episode.opened_at, "probability": peak.smoothed_probability,
                "pain_probability": peak.pain_probability, "estimated_score": peak.estimated_score,
                "detector": self.detectors.get(episode.bed_id, ""), "detector_score": peak.detector_score,
                "x": peak.region.x, "y": peak.region.y, "side": peak.region.side,
                "model_name": peak.model_name, "model_version": peak.model_version,
                "crop_path": f"{folder}/{CROP_FILE}", "gradcam_path": f"{folder}/{GRADCAM_FILE}",
                "cam_path": f"{folder}/{CAM_FILE}", "trace_path": f"{folder}/{TRACE_FILE}",
            }  # fmt: skip
        else:
            assert episode.prior is not None
            row = dict(episode.prior)
        row.update(closed_at=closed_at, final=final, updated_at=self.clock())
        peak_info = {k: row[k] for k in ("ts", "probability", "pain_probability", "estimated_score")}
        trace = {
            "alert_id": episode.alert_id, "bed_id": episode.bed_id, "group_id": row["group_id"],
            "opened_at": episode.opened_at, "closed_at": closed_at, "final": final, "peak": peak_info,
            "trend": list(episode.trend), "frames": [*episode.before, *episode.after],
        }  # fmt: skip
        return SnapshotJob(episode.alert_id, row, trace, peak)


def _new_peak(message: BedFrameMessage, smoothed: float, crop: np.ndarray, cam: np.ndarray, region: SquareBox) -> Peak:
    model = message.model
    return Peak(
        ts=message.capture_ts,
        smoothed_probability=smoothed,
        pain_probability=message.pain_probability,
        estimated_score=message.estimated_score,
        detector_score=message.detector_score,
        region=region,
        model_name=model.name if model else "",
        model_version=model.version if model else "",
        crop=np.array(crop, copy=True),  # the worker reuses nothing, but copies make the peak independent of it
        cam=np.array(cam, dtype=np.float32, copy=True),
    )
