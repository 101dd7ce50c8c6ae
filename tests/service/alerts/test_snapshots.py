"""Review snapshots over a real SQLite store: the peak frame is kept, provisional then final files, trace = trend,
switched off stores nothing, retention purges rows and files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.aggregation import Scale
from service.alerts import AlertParams
from service.alerts.center import AlertCenter
from service.alerts.snapshots import SnapshotRecorder, SnapshotWriter, load_snapshot, purge_snapshots
from service.clock import Instant
from service.config.settings import SnapshotConfig
from service.pipeline.broadcaster import Broadcaster
from service.pipeline.messages import BedFrameMessage, BedState, FaceBoxOut, ModelRef
from service.store import Store
from service.store.writer import StoreWriter
from service.vision.crop import SquareBox

PROBS = [0.30, 0.50, 0.90, 0.70, 0.60, 0.40]
"""Smoothed probability of each frame; the peak is frame 2 (0.90)."""


def message(ts: float, score: int, smoothed: float) -> BedFrameMessage:
    return BedFrameMessage(
        bed_id="b1", sequence=1, capture_ts=ts, published_ts=ts, state=BedState.OK, window_s=30.0,
        estimated_score=score, pain_fraction=0.9, scale=Scale.DAN, face_visible_share=1.0, low_evidence=False,
        latency_ms=1.0, face=FaceBoxOut(x=1, y=2, w=50, h=50), detector_score=0.8, pain_probability=smoothed,
        smoothed_probability=smoothed, model=ModelRef(name="m", version="3", demo=True),
    )  # fmt: skip


def observe(center: AlertCenter, now: list[float], msg: BedFrameMessage) -> None:
    """The center's clock follows the messages."""
    now[0] = msg.published_ts
    center.observe(msg)


def crop_of(level: int) -> np.ndarray:
    return np.full((224, 224, 3), level, dtype=np.uint8)


@pytest.fixture
def parts(tmp_path: Path):
    now = [1000.0]
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    store.ensure_beds([("b1", "", "DAN")])
    writer = StoreWriter(store, tmp_path, tick_s=0.05)
    writer.start()
    yield store, writer, now, tmp_path / "data"
    writer.stop()
    store.close()


def build(parts, config: SnapshotConfig, detectors: dict[str, str]):
    """The alert center with a snapshot recorder listening (None when off), wired as `painwatch serve` does."""
    store, writer, now, data_dir = parts
    files = SnapshotWriter(data_dir, writer, config.jpeg_quality)
    files.start()
    recorder = SnapshotRecorder(config, data_dir, files, detectors, clock=lambda: now[0]) if config.enabled else None
    params = AlertParams(open_after_s=1, close_after_s=1)
    center = AlertCenter(
        {"b1": (Scale.DAN, params)}, store, writer, Broadcaster("a"), clock=lambda: Instant.at(now[0]),
        listeners=[recorder] if recorder is not None else [],
    )  # fmt: skip
    return center, recorder, files


def run_episode(center: AlertCenter, recorder, cam: np.ndarray, now: list[float]) -> None:
    """Score 4 for 2 s (opens at 1001), the PROBS frames inside the episode, then calm until it closes."""
    now[0] = 1000.0
    for _ in range(3):
        center.observe(message(now[0], 4, 0.2))
        now[0] += 0.5
    for i, p in enumerate(PROBS):  # frame i has crop level 40 * (i + 1)
        msg = message(now[0], 4, p)
        center.observe(msg)
        if recorder is not None:
            recorder.on_frame(msg, crop_of(40 * (i + 1)), cam, SquareBox(5, 6, 100))
        now[0] += 0.5
    for _ in range(4):
        center.observe(message(now[0], 0, 0.1))
        now[0] += 0.5


def test_peak_provisional_and_final_snapshot(parts) -> None:
    store, writer, now, data_dir = parts
    config = SnapshotConfig(provisional_every_s=3600, group_ids={"b1": "infant-7"})
    center, recorder, files = build(parts, config, {"b1": "mediapipe-short"})
    assert recorder is not None
    cam = np.linspace(0, 1, 14 * 14, dtype=np.float32).reshape(14, 14)
    ts = 1000.0
    for _ in range(3):
        observe(center, now, message(ts, 4, 0.2))
        ts += 0.5
    (alert,) = store.active_alerts() if writer.flush() else []
    first = message(ts, 4, 0.5)
    observe(center, now, first)
    recorder.on_frame(first, crop_of(100), cam, SquareBox(5, 6, 100))
    assert files.flush() and writer.flush()
    provisional = load_snapshot(store, alert.id)
    assert provisional is not None and not provisional.final and provisional.probability == 0.5
    assert cv2.imread(str(data_dir / provisional.crop_path))[..., 0].mean() == pytest.approx(100, abs=2)

    center2_frames = [(0.3, 40), (0.9, 200), (0.7, 120)]
    for p, level in center2_frames:
        ts += 0.5
        msg = message(ts, 4, p)
        observe(center, now, msg)
        recorder.on_frame(msg, crop_of(level), cam, SquareBox(5, 6, 100))
    peak_ts = 1000.0 + 0.5 * 5
    for _ in range(4):
        ts += 0.5
        observe(center, now, message(ts, 0, 0.1))
    assert files.flush() and writer.flush()
    (closed,) = [a for a in store.list_alerts() if a.id == alert.id]
    assert closed.status.value == "closed"
    row = load_snapshot(store, alert.id)
    assert row is not None and row.final and row.closed_at == closed.closed_at
    assert (row.probability, row.ts, row.group_id, row.detector) == (0.9, peak_ts, "infant-7", "mediapipe-short")
    assert (row.x, row.y, row.side, row.model_name, row.model_version) == (5, 6, 100, "m", "3")
    crop = cv2.imread(str(data_dir / row.crop_path))
    assert crop.shape == (224, 224, 3) and crop.mean() == pytest.approx(200, abs=2)  # the peak frame's crop
    gradcam = cv2.imread(str(data_dir / row.gradcam_path))
    assert gradcam.shape == (224, 224, 3) and abs(float(gradcam.mean()) - 200) > 10  # heat blended in
    np.testing.assert_allclose(np.load(data_dir / row.cam_path), cam)
    trace = json.loads((data_dir / row.trace_path).read_text())
    trend = [p for p in store.trend("b1", 0) if alert.opened_at <= p.ts < closed.closed_at]
    assert [(p["ts"], p["estimated_score"]) for p in trace["trend"]] == [(p.ts, p.estimated_score) for p in trend]
    assert len(trace["trend"]) >= 3 and trace["final"] and trace["peak"]["probability"] == 0.9
    assert [f["smoothed_probability"] for f in trace["frames"]] == [0.5, 0.3, 0.9, 0.7]
    assert sorted(os.listdir(data_dir / "snapshots" / alert.id)) == [
        "crop.jpg", "gradcam.jpg", "gradcam.npy", "trace.json"
    ]  # fmt: skip


def test_switched_off_stores_nothing(parts) -> None:
    store, writer, now, data_dir = parts
    center, recorder, _files = build(parts, SnapshotConfig(enabled=False), {})
    assert recorder is None
    run_episode(center, None, np.zeros((14, 14), np.float32), now)
    assert writer.flush()
    (alert,) = store.list_alerts()
    assert alert.status.value == "closed"
    assert load_snapshot(store, alert.id) is None and not (data_dir / "snapshots").exists()


def test_retention_purge_removes_old_rows_and_files(parts) -> None:
    store, writer, now, data_dir = parts
    center, recorder, files = build(parts, SnapshotConfig(retention_days=1), {"b1": "opencv-haar"})
    assert recorder is not None
    run_episode(center, recorder, np.ones((7, 7), np.float32), now)
    assert files.flush() and writer.flush()
    (alert,) = store.list_alerts()
    folder = data_dir / "snapshots" / alert.id
    orphan = data_dir / "snapshots" / "orphan"
    orphan.mkdir()
    os.utime(orphan, (0, 0))
    assert load_snapshot(store, alert.id) is not None and folder.is_dir()
    assert purge_snapshots(store, data_dir, now[0] - 1) == 1  # only the orphan is that old
    assert folder.is_dir() and not orphan.exists()
    now[0] += 2 * 86400
    assert purge_snapshots(store, data_dir, now[0] - 86400) == 1  # a day's retention, two days later
    assert load_snapshot(store, alert.id) is None and not folder.exists()
    assert store.get_alert(alert.id) is not None  # the alert itself is kept
