"""Review snapshots end to end on a real `painwatch serve` process, then the feedback export.

Run 1 (every face frame counts as pain) opens an episode and stores a provisional snapshot; it is killed (-9).
Run 2 (no frame counts as pain) continues the episode, which closes: the snapshot becomes final. The routes serve
metadata, trace and JPEGs; a nurse's verdict then makes `painwatch data export-feedback` write a dataset.csv.
Works with or without access control: it logs in as the first-start admin when the service has a login route.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.api.deps import current_user
from service.api.routes import snapshots as snapshot_routes
from service.auth import AuthUser, Role
from service.config.settings import SnapshotConfig
from service.demo_video import write_demo_video
from tests.support.cli import PAINWATCH
from training.data.cli import data_app

pytestmark = pytest.mark.timeout(240)

ADMIN_PASSWORD = "snapshot-e2e-admin-password"


def write_config(tmp: Path, model_dir: Path, port: int, pain_threshold: float) -> Path:
    video = tmp / "face.mp4"
    if not video.exists():
        write_demo_video(video, seconds=4.0, fps=10.0, face_until_s=4.0)
    config = tmp / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, analysis_rate_hz: 5, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        f"aggregation: {{window_s: 2, pain_threshold: {pain_threshold}, min_face_share: 0.2}}\n"
        "alerts: {open_after_s: 1, close_after_s: 1, high_after_s: 600}\n"
        "snapshots: {provisional_every_s: 0.5, around_peak_s: 2, group_ids: {b1: infant-e2e}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp / 'data'}'\n"
    )
    return config


def painwatch(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry (user errors -> exit 2 with a message)."""
    command = [*PAINWATCH, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def wait_for(check: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def snapshot(base: str, alert_id: str, headers: dict[str, str], final: bool) -> dict[str, Any] | None:
    response = httpx.get(f"{base}/api/alerts/{alert_id}/snapshot", headers=headers)
    if response.status_code != 200 or response.json()["snapshot"]["final"] is not final:
        return None
    body: dict[str, Any] = response.json()
    return body


def decode(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_snapshot_through_kill_restart_close_review_and_export(
    model_dir: Path, tmp_path: Path, port: int, serve
) -> None:
    served = serve(write_config(tmp_path, model_dir, port, 0.000001), port, ADMIN_PASSWORD)
    base = served.base
    headers = served.login()
    opened = wait_for(lambda: httpx.get(f"{base}/api/alerts", params={"status": "open"}, headers=headers).json(),
                      "an episode")  # fmt: skip
    alert_id = opened[0]["id"]
    provisional = wait_for(lambda: snapshot(base, alert_id, headers, final=False), "a provisional snapshot")
    assert provisional["snapshot"]["closed_at"] is None

    def trend_since_open() -> list[dict[str, Any]]:
        trend = httpx.get(f"{base}/api/beds/b1/trend", params={"minutes": 10}, headers=headers).json()
        return [p for p in trend if p["ts"] >= opened[0]["opened_at"]]

    # the kill must not come before the episode has a trace to keep (1 Hz points are stored as they happen)
    wait_for(lambda: len(trend_since_open()) >= 2, "two stored trend points of the open episode")
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(10)

    served = serve(write_config(tmp_path, model_dir, port, 0.999999), port, ADMIN_PASSWORD)
    headers = served.login()
    final = wait_for(lambda: snapshot(base, alert_id, headers, final=True), "the final snapshot", 90)
    alert = httpx.get(f"{base}/api/alerts/{alert_id}", headers=headers).json()["alert"]
    meta, trace = final["snapshot"], final["trace"]
    assert alert["status"] == "closed" and meta["closed_at"] == alert["closed_at"] and meta["final"] is True
    assert (meta["bed_id"], meta["group_id"], meta["detector"]) == ("b1", "infant-e2e", "mediapipe-short")
    assert meta["probability"] >= provisional["snapshot"]["probability"]  # the peak never gets worse
    assert 0 < meta["probability"] <= 1
    # the peak may be the very frame whose score opened the episode: captured a moment (its analysis) before
    assert meta["ts"] >= alert["opened_at"] - 2.0
    assert final["scale"] == "DAN"
    trend_ts = [p["ts"] for p in trace["trend"]]
    assert len(trend_ts) >= 2 and trend_ts == sorted(trend_ts) and trend_ts[0] >= alert["opened_at"]
    assert any(abs(f["ts"] - meta["ts"]) < 1e-6 for f in trace["frames"])  # the peak frame is in the series
    crop = decode(httpx.get(f"{base}{final['crop_url']}", headers=headers))
    gradcam = decode(httpx.get(f"{base}{final['gradcam_url']}", headers=headers))
    assert crop.shape == gradcam.shape == (224, 224, 3) and float(np.abs(crop.astype(int) - gradcam).mean()) > 5
    assert httpx.get(f"{base}/api/alerts/nope/snapshot", headers=headers).status_code == 404
    views = httpx.get(f"{base}/api/audit", params={"action": "snapshot.view"}, headers=headers).json()
    parts = {(e["who"], e["details"]["alert_id"], e["details"]["part"]) for e in views}
    assert {("admin", alert_id, part) for part in ("metadata", "crop", "gradcam")} <= parts  # every look at a face

    ack = httpx.post(f"{base}/api/alerts/{alert_id}/ack", headers=headers,
                     json={"verdict": "pain_confirmed", "note": "grimace"})  # fmt: skip
    assert ack.status_code == 200, ack.text
    served.stop()  # graceful: the store is closed before the export reads it

    out = tmp_path / "feedback"
    result = CliRunner().invoke(data_app, ["export-feedback", "--store", str(tmp_path / "data"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 crops (1 pain, 0 nonpain) from 1 reviewed snapshots; 0 unsure excluded" in result.output
    with open(out / "dataset.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["label"], row["infant_id"], row["source"]) == ("pain", "infant-e2e", "bedside-feedback")
    assert row["detector"] == "mediapipe-short" and row["frame_id"] == f"feedback_{alert_id}"
    exported = cv2.imread(str(out / row["crop_path"]))
    assert exported is not None and exported.shape == (224, 224, 3)
    assert np.array_equal(exported, crop)  # the very crop the review route served

    again = painwatch("data", "export-feedback", "--store", str(tmp_path / "data"), "-o", str(tmp_path / "none"),
                      "--verdicts", "not_pain")  # fmt: skip
    assert again.returncode == 2 and "no reviewed snapshots to export" in again.stderr, again.stderr
    assert not (tmp_path / "none").exists()


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    result = painwatch("data", "export-feedback", "--store", str(tmp_path / "nope"), "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and "no such store" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_switched_off_routes_say_why(tmp_path: Path) -> None:
    app = FastAPI()
    settings = SimpleNamespace(snapshots=SnapshotConfig(enabled=False), data_dir=tmp_path)
    app.state.service = SimpleNamespace(settings=settings)
    app.include_router(snapshot_routes.router)
    app.dependency_overrides[current_user] = lambda: AuthUser(name="nurse-a", role=Role.NURSE)
    client = TestClient(app)
    for path in ("snapshot", "snapshot/crop.jpg", "snapshot/gradcam.jpg"):
        response = client.get(f"/api/alerts/abc/{path}")
        assert response.status_code == 404 and "snapshots.enabled: false" in response.json()["detail"]
