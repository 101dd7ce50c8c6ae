"""Review snapshots: at a pain episode's peak, the face crop, its pain-class Grad-CAM and the episode's score trace.

Bed workers hand every scored frame to `SnapshotRecorder.on_frame` (microseconds: it compares one number and, at a
new peak, copies the crop and the map); the alert center hands it episode changes and 1 Hz trend points. Encoding
JPEGs and writing files happens on the recorder's own thread; the row goes through the store writer's queue, so the
analysis loop never waits on the disk or the database.

While an episode is open its best snapshot so far is rewritten at most every `provisional_every_s` (a crash loses
little); the final one is written when the episode closes. Files live in `data_dir/snapshots/<alert_id>/`:
crop.jpg (224x224), gradcam.jpg (overlay), gradcam.npy (the raw map) and trace.json; every file is written atomically.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import cv2
import numpy as np
from sqlalchemy import delete, select

from service.alerts.models import Alert, AlertEventMessage, AlertKind, EventType
from service.config.settings import SnapshotConfig
from service.files import atomic_open
from service.pipeline.messages import BedFrameMessage
from service.store.database import Store
from service.store.models import ScoreTrendRow, SnapshotRow
from service.store.writer import StoreWriter
from service.vision.crop import SquareBox
from service.vision.heatmap import overlay

logger = logging.getLogger(__name__)

SNAPSHOTS_DIR: Final = "snapshots"
CROP_FILE: Final = "crop.jpg"
GRADCAM_FILE: Final = "gradcam.jpg"
CAM_FILE: Final = "gradcam.npy"
TRACE_FILE: Final = "trace.json"
CROP_SIZE: Final = 224
DISABLED_REASON: Final = "review snapshots are switched off on this service (snapshots.enabled: false)"
_MAX_TREND_POINTS = 86_400
"""A day of 1 Hz points: an episode longer than that keeps its first day (bounded memory)."""

Clock = Callable[[], float]


class AlertCenterLike(Protocol):
    """What `install_snapshots` needs from `service.alerts.center.AlertCenter` (which it must not import)."""

    writer: StoreWriter
    store: Store
    clock: Clock
    on_change: Callable[[AlertEventMessage], None] | None
    on_trend: Callable[[ScoreTrendRow], None] | None


def snapshot_root(data_dir: Path) -> Path:
    return Path(data_dir) / SNAPSHOTS_DIR


def group_id_for(config: SnapshotConfig, bed_id: str) -> str:
    return config.group_ids.get(bed_id, f"bed-{bed_id}")


@dataclass(frozen=True)
class _Peak:
    """The best frame so far; the arrays are private copies, never changed after creation."""

    ts: float
    smoothed_probability: float
    pain_probability: float | None
    estimated_score: int | None
    detector_score: float | None
    region: SquareBox
    model_name: str
    model_version: str
    crop: np.ndarray
    cam: np.ndarray


@dataclass
class _Episode:
    alert_id: str
    bed_id: str
    opened_at: float
    peak: _Peak | None = None
    peak_probability: float = -1.0
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    dirty: bool = False
    last_written: float = float("-inf")
    prior: dict[str, Any] | None = None
    """The stored row of an episode continued after a restart (its images stay until a better peak)."""


@dataclass(frozen=True)
class SnapshotJob:
    """What the recorder's thread writes: images only when `peak` is set, always trace.json and the row."""

    alert_id: str
    row: dict[str, Any]
    trace: dict[str, Any]
    peak: _Peak | None


class SnapshotRecorder:
    def __init__(
        self,
        config: SnapshotConfig,
        data_dir: Path,
        writer: StoreWriter,
        detectors: dict[str, str],
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.root = snapshot_root(self.data_dir)
        self.writer = writer
        self.detectors = detectors
        """Face detector name per bed id (recorded with the crop: the training format names it)."""
        self.clock = clock
        self._lock = threading.Lock()
        self._episodes: dict[str, _Episode] = {}
        self._frames: dict[str, deque[dict[str, Any]]] = {}
        self._pending: dict[str, SnapshotJob] = {}
        self._busy = False
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.errors = 0

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Write what is pending (within the timeout), then end the thread."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every submitted snapshot's files are written and its row is handed to the store writer."""
        deadline = time.monotonic() + timeout_s
        with self._wake:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    def resume(self, store: Store, alerts: list[Alert]) -> None:
        """Continue the open episodes of the last run: a stored peak is kept unless a better one comes."""
        for alert in alerts:
            if alert.kind is not AlertKind.PAIN_EPISODE or not alert.active:
                continue
            episode = _Episode(alert.id, alert.bed_id, alert.opened_at)
            row = load_snapshot(store, alert.id)
            if row is not None:
                episode.prior = _row_dict(row)
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
            self._submit(job)

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
            self._submit(job)

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

    def _submit(self, job: SnapshotJob) -> None:
        """Newest job per alert wins: a provisional not yet written is simply replaced (bounded, never blocks)."""
        if self._thread is None:  # started with the first snapshot: an idle service runs no extra thread
            self.start()
        with self._wake:
            self._pending[job.alert_id] = job
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stop.is_set():
                    self._wake.wait(0.5)
                if not self._pending:
                    return
                alert_id = next(iter(self._pending))
                job = self._pending.pop(alert_id)
                self._busy = True
            try:
                self._write(job)
                self.written += 1
            except Exception:
                self.errors += 1
                logger.exception("snapshot of alert %s could not be written", job.alert_id)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _write(self, job: SnapshotJob) -> None:
        if job.peak is not None:
            quality = self.config.jpeg_quality
            crop = _crop_224(job.peak.crop)
            _write_bytes(self.data_dir / job.row["crop_path"], _jpeg(crop, quality))
            _write_bytes(self.data_dir / job.row["gradcam_path"], _jpeg(overlay(crop, job.peak.cam), quality))
            with atomic_open(self.data_dir / job.row["cam_path"], "wb") as handle:
                np.save(handle, job.peak.cam.astype(np.float32))
        with atomic_open(self.data_dir / job.row["trace_path"], "w", encoding="utf-8") as handle:
            json.dump(job.trace, handle)
        self.writer.put(SnapshotRow(**job.row))
        logger.debug("snapshot of alert %s written (final=%s)", job.alert_id, job.row["final"])


def _new_peak(message: BedFrameMessage, smoothed: float, crop: np.ndarray, cam: np.ndarray, region: SquareBox) -> _Peak:
    model = message.model
    return _Peak(
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


def _crop_224(crop: np.ndarray) -> np.ndarray:
    if crop.shape[:2] == (CROP_SIZE, CROP_SIZE):
        return crop
    return cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer.tobytes())


def _write_bytes(target: Path, data: bytes) -> None:
    with atomic_open(target, "wb") as handle:
        handle.write(data)


def _row_dict(row: SnapshotRow) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in SnapshotRow.__table__.columns}


# -- reads and retention (API, export, periodic purge) -----------------------------------------------------------
def load_snapshot(store: Store, alert_id: str) -> SnapshotRow | None:
    with store.sessions() as session:
        return session.get(SnapshotRow, alert_id)


def snapshot_metadata(row: SnapshotRow) -> dict[str, Any]:
    return _row_dict(row)


def snapshot_file(data_dir: Path, relative: str) -> Path | None:
    """The file of a stored path, only when it lies inside the snapshot folder and exists."""
    root = snapshot_root(data_dir).resolve()
    path = (Path(data_dir) / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def read_trace(data_dir: Path, row: SnapshotRow) -> dict[str, Any] | None:
    path = snapshot_file(data_dir, row.trace_path)
    if path is None:
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def purge_snapshots(store: Store, data_dir: Path, older_than: float) -> int:
    """Delete snapshot rows last updated before `older_than` and their folders (and orphan folders that old)."""
    root = snapshot_root(data_dir)
    with store.sessions.begin() as session:
        ids = list(session.scalars(select(SnapshotRow.alert_id).where(SnapshotRow.updated_at < older_than)))
        if ids:
            session.execute(delete(SnapshotRow).where(SnapshotRow.alert_id.in_(ids)))
    for alert_id in ids:
        shutil.rmtree(root / alert_id, ignore_errors=True)
    removed = len(ids)
    if root.is_dir():
        with store.sessions() as session:
            known = set(session.scalars(select(SnapshotRow.alert_id)))
        for folder in root.iterdir():
            # a crash between the files and the row leaves a folder without a row: purge it at the same age
            if folder.is_dir() and folder.name not in known and folder.stat().st_mtime < older_than:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed


__all__ = [
    "DISABLED_REASON",
    "SnapshotJob",
    "SnapshotRecorder",
    "group_id_for",
    "install_snapshots",
    "load_snapshot",
    "purge_snapshots",
    "read_trace",
    "snapshot_file",
    "snapshot_metadata",
    "snapshot_root",
]


def install_snapshots(
    config: SnapshotConfig, data_dir: Path, center: AlertCenterLike, detectors: dict[str, str]
) -> SnapshotRecorder | None:
    """Wire review snapshots into a built alert center: episode changes and trend points in, retention added to
    the writer's periodic purge. Returns the recorder (its `on_frame` goes to the bed workers); None when off."""
    retention_s = config.retention_days * 86400.0
    writer, store = center.writer, center.store
    previous_purge = writer.purge

    def purge() -> None:
        if previous_purge is not None:
            previous_purge()
        # purged even when snapshots are switched off: old ones must not outlive their retention
        removed = purge_snapshots(store, data_dir, center.clock() - retention_s)
        if removed:
            logger.info("purged %d review snapshot(s)", removed)

    writer.purge = purge
    if not config.enabled:
        logger.info("review snapshots are switched off")
        return None
    recorder = SnapshotRecorder(config, data_dir, writer, detectors, clock=center.clock)
    recorder.resume(store, store.active_alerts())
    center.on_change = recorder.on_change
    center.on_trend = recorder.on_trend
    return recorder
