"""Alerts end to end on a real `painwatch serve` process: a pain episode opens from the real pipeline (synthetic
astronaut video, a deliberately low pain threshold and short minimum times), is pushed on /ws/alerts, listed by
REST, survives `kill -9` and a restart, and is acknowledged by a logged-in nurse; pause/resume round-trip
through the API. Everything runs logged in (admin password from the environment); the login, like the alerts,
survives the kill.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
import websockets

from service.api.schemas import SCHEMA_DIR
from service.demo_video import write_demo_video

pytestmark = pytest.mark.timeout(240)

EVENT_SCHEMA = json.loads((SCHEMA_DIR / "alert_event.schema.json").read_text())
SNAPSHOT_SCHEMA = json.loads((SCHEMA_DIR / "alerts_snapshot.schema.json").read_text())
SUMMARY_SCHEMA = json.loads((SCHEMA_DIR / "beds_summary.schema.json").read_text())
ADMIN_PASSWORD = "alerts-e2e-admin-password"


def write_config(tmp: Path, model_dir: Path, port: int) -> Path:
    video = write_demo_video(tmp / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    config = tmp / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, analysis_rate_hz: 5, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        # every face frame counts as pain: the episode opens from the real pipeline within seconds
        "aggregation: {window_s: 2, pain_threshold: 0.000001, min_face_share: 0.2}\n"
        "alerts: {open_after_s: 1, close_after_s: 600, high_after_s: 600}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp / 'data'}'\n"
    )
    return config


@pytest.fixture
def config(model_dir: Path, tmp_path: Path, port: int) -> Path:
    return write_config(tmp_path, model_dir, port)


async def first_open_event(url: str, headers: dict[str, str]) -> tuple[dict, dict]:
    async with websockets.connect(url, additional_headers=headers) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 30))
        deadline = time.monotonic() + 90
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
            jsonschema.validate(message, EVENT_SCHEMA)
            if message["event"]["type"] == "opened" and message["alert"]["kind"] == "pain_episode":
                return snapshot, message


def test_alert_opens_is_pushed_survives_kill_9_and_is_acknowledged(config: Path, port: int, serve) -> None:
    served = serve(config, port, ADMIN_PASSWORD)
    base, ws = served.base, f"ws://127.0.0.1:{port}"
    admin = served.login()
    snapshot, opened = asyncio.run(first_open_event(f"{ws}/ws/alerts", admin))
    jsonschema.validate(snapshot, SNAPSHOT_SCHEMA)
    assert snapshot["type"] == "alerts_snapshot" and snapshot["beds"] == [
        {"bed_id": "b1", "paused_until": None, "pause_reason": None}
    ]
    alert_id = opened["alert"]["id"]
    assert opened["alert"]["priority"] == "medium" and opened["alert"]["peak_score"] == 4

    listed = httpx.get(f"{base}/api/alerts", params={"status": "open", "bed": "b1"}, headers=admin).json()
    assert [a["id"] for a in listed] == [alert_id]
    detail = httpx.get(f"{base}/api/alerts/{alert_id}", headers=admin).json()
    assert [e["type"] for e in detail["events"]] == ["opened"] and detail["alert"]["status"] == "open"
    assert httpx.get(f"{base}/api/alerts/nope", headers=admin).status_code == 404
    summary = json.loads(asyncio.run(_one(f"{ws}/ws/beds", admin)))
    jsonschema.validate(summary, SUMMARY_SCHEMA)
    assert [a["id"] for a in summary["beds"][0]["active_alerts"]] == [alert_id]

    served.process.send_signal(signal.SIGKILL)
    served.process.wait(10)
    served = serve(config, port, ADMIN_PASSWORD)
    assert httpx.get(f"{base}/api/alerts", headers=admin).status_code == 200  # the session is in the database
    after = httpx.get(f"{base}/api/alerts/{alert_id}", headers=admin).json()
    assert after["alert"]["status"] == "open" and after["alert"]["opened_at"] == opened["alert"]["opened_at"]
    open_now = httpx.get(f"{base}/api/alerts", params={"status": "open"}, headers=admin).json()
    assert [a["id"] for a in open_now] == [alert_id]
    bed = httpx.get(f"{base}/api/beds/b1", headers=admin).json()
    # the stored 1 Hz trend survived the kill too, and spans both runs
    trend = httpx.get(f"{base}/api/beds/b1/trend", params={"minutes": 10}, headers=admin).json()
    stamps = [p["ts"] for p in trend]
    assert len(trend) >= 2 and stamps == sorted(stamps)
    assert any(p["state"] == "ok" and 0 <= p["smoothed_probability"] <= 1 for p in trend)
    assert all(p["smoothed_probability"] is None for p in trend if p["state"] != "ok")
    assert httpx.get(f"{base}/api/beds/b1/trend", params={"minutes": 5000}, headers=admin).status_code == 422
    assert [a["id"] for a in bed["summary"]["active_alerts"]] == [alert_id]

    new_user = {"name": "nurse-a", "role": "nurse", "password": "nurse-a-password"}
    assert httpx.post(f"{base}/api/users", json=new_user, headers=admin).status_code == 201
    nurse = served.login("nurse-a", "nurse-a-password")
    ack = httpx.post(f"{base}/api/alerts/{alert_id}/ack", headers=nurse,
                     json={"verdict": "not_pain", "note": "synthetic video"})  # fmt: skip
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == "nurse-a"
    again = httpx.post(f"{base}/api/alerts/{alert_id}/ack", json={"verdict": "unsure"}, headers=nurse)
    assert again.status_code == 409
    assert httpx.post(f"{base}/api/alerts/{alert_id}/ack", json={"verdict": "maybe"}, headers=nurse).status_code == 422
    acked = httpx.get(f"{base}/api/alerts", params={"status": "acknowledged"}, headers=nurse).json()
    assert [(a["id"], a["verdict"], a["note"]) for a in acked] == [(alert_id, "not_pain", "synthetic video")]
    events = httpx.get(f"{base}/api/alerts/{alert_id}", headers=nurse).json()["events"]
    assert [e["type"] for e in events] == ["opened", "acknowledged"] and events[1]["user"] == "nurse-a"


def test_pause_and_resume_through_the_api(config: Path, port: int, serve) -> None:
    served = serve(config, port, ADMIN_PASSWORD)
    base = served.base
    admin = served.login()
    paused = httpx.post(f"{base}/api/beds/b1/pause", json={"reason": "heel lance", "minutes": 5}, headers=admin).json()
    assert paused["pause_reason"] == "heel lance" and paused["paused_until"] > time.time() + 290
    assert httpx.post(f"{base}/api/beds/nope/pause", json={"reason": "x"}, headers=admin).status_code == 404
    time.sleep(4)  # the bed is in pain all along: nothing opens while paused
    assert httpx.get(f"{base}/api/alerts", headers=admin).json() == []
    bed = httpx.get(f"{base}/api/beds/b1", headers=admin).json()
    assert bed["summary"]["alerts_paused_until"] == paused["paused_until"]
    resumed = httpx.post(f"{base}/api/beds/b1/resume", headers=admin).json()
    assert resumed == {"bed_id": "b1", "paused_until": None, "pause_reason": None}
    deadline = time.monotonic() + 60
    while not httpx.get(f"{base}/api/alerts", params={"status": "open"}, headers=admin).json():
        assert time.monotonic() < deadline, "no episode after resuming"
        time.sleep(0.5)


async def _one(url: str, headers: dict[str, str]) -> str:
    async with websockets.connect(url, additional_headers=headers) as ws:
        return str(await asyncio.wait_for(ws.recv(), 30))
