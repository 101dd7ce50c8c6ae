"""The review-snapshot writer: its own thread encodes the JPEGs and writes the files (atomically), then hands the
row to the store writer's queue, so the analysis loop never waits on the disk or the database.

Newest job per alert wins: a provisional snapshot not yet written is simply replaced (bounded, never blocks).
Supervised like every long-lived thread: started with the service, restarted if it dies, flushed on shutdown.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np

from service.alerts.snapshots.sealing import Keyring, write_snapshot_file
from service.files import atomic_open
from service.store.models import SnapshotRow
from service.store.writer import StoreWriter
from service.supervision import HEALTHY, Health
from service.vision.crop import SquareBox
from service.vision.heatmap import overlay
from service.vision.jpeg import encode_jpeg

logger = logging.getLogger(__name__)

CROP_SIZE: Final = 224


@dataclass(frozen=True)
class Peak:
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


@dataclass(frozen=True)
class SnapshotJob:
    """What the writer's thread writes: images only when `peak` is set, always trace.json and the row."""

    alert_id: str
    row: dict[str, Any]
    trace: dict[str, Any]
    peak: Peak | None


class SnapshotWriter:
    name = "snapshot-writer"
    bed_id = None

    def __init__(
        self, data_dir: Path, store_writer: StoreWriter, jpeg_quality: int, keyring: Keyring | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.store_writer = store_writer
        self.jpeg_quality = jpeg_quality
        self.keyring = keyring
        """Encrypts the images (faces) at rest when configured (sealing.py)."""
        self._pending: dict[str, SnapshotJob] = {}
        self._busy = False
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.errors = 0

    # -- lifecycle (supervised) ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
        self._thread.start()

    def restart(self) -> None:
        self._stop.set()
        self.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Write what is pending (within the timeout), then end the thread."""
        self.flush(timeout_s)
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(0.5)

    def health(self, now_mono: float) -> Health:
        if self._thread is None or not self._thread.is_alive():
            return Health(False, "snapshot writer thread is not running")
        return HEALTHY

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

    # -- from the recorder (never blocks) --------------------------------------------------------------------
    def submit(self, job: SnapshotJob) -> None:
        with self._wake:
            self._pending[job.alert_id] = job
            self._wake.notify_all()

    # -- the thread ------------------------------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        while True:
            with self._wake:
                while not self._pending and not stop.is_set():
                    self._wake.wait(0.5)
                if not self._pending or self._thread is not threading.current_thread():
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
            crop = _crop_224(job.peak.crop)
            gradcam = encode_jpeg(overlay(crop, job.peak.cam), self.jpeg_quality)
            cam = io.BytesIO()
            np.save(cam, job.peak.cam.astype(np.float32))
            for relative, data in (
                (job.row["crop_path"], encode_jpeg(crop, self.jpeg_quality)),
                (job.row["gradcam_path"], gradcam),
                (job.row["cam_path"], cam.getvalue()),
            ):
                write_snapshot_file(self.data_dir / relative, data, self.keyring)  # fmt: skip
        with atomic_open(self.data_dir / job.row["trace_path"], "w", encoding="utf-8") as handle:
            json.dump(job.trace, handle)
        self.store_writer.put(SnapshotRow(**job.row))
        logger.debug("snapshot of alert %s written (final=%s)", job.alert_id, job.row["final"])


def _crop_224(crop: np.ndarray) -> np.ndarray:
    if crop.shape[:2] == (CROP_SIZE, CROP_SIZE):
        return crop
    return cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
