"""Fail-safe monitoring on real `painwatch serve` processes (and one in-process service for fault injection):

- a model answering NaN on real faces gives `model_error` and a technical alert, never a score;
- PostgreSQL stopped (`pg_ctl -m immediate`) while a nurse acknowledges gives 503 and a not-ready /readyz, and the
  dashboard's summary carries the `store_unavailable` condition; once PostgreSQL is back the ack succeeds and
  survives `kill -9`;
- an analysis worker that crashes, or hangs, is restarted, counted, and alarmed (`stale` alert), and recovers.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from service.auth import Role
from service.config.settings import settings_from_dict
from service.demo_video import write_demo_video
from service.serve import Service, build_service, make_server
from service.sources.base import Frame
from tests.support.models import write_nan_on_faces_model
from tests.support.postgres import ThrowawayPostgres
from tests.support.users import add_user

pytestmark = pytest.mark.timeout(300)

ADMIN_PASSWORD = "fail-safe-admin-password"


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def write_config(tmp: Path, model: Path, port: int, extra: str = "") -> Path:
    video = write_demo_video(tmp / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    config = tmp / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, analysis_rate_hz: 4, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp / 'data'}'\n{extra}"
    )
    return config


def test_a_model_answering_nan_on_faces_gives_model_error_and_a_technical_alert(
    model_dir: Path, tmp_path: Path, port: int, serve
) -> None:
    nan_model = write_nan_on_faces_model(tmp_path / "nan-model" / "1", model_dir)
    alerts = "alerts: {model_error_after_s: 1, technical_min_on_s: 0}\n"
    served = serve(write_config(tmp_path, nan_model, port, alerts), port, ADMIN_PASSWORD)
    admin = served.login()
    base = served.base

    def bed_in_model_error() -> dict | None:
        summary = httpx.get(f"{base}/api/beds/b1", headers=admin).json()["summary"]
        return summary if summary["state"] == "model_error" else None

    summary = wait_for("the bed to show model_error", bed_in_model_error)
    assert summary["state_reason"] == "model output invalid: probabilities are not finite ([nan, nan])"
    assert summary["pain_probability"] is None and summary["smoothed_probability"] is None
    assert summary["estimated_score"] is None  # unknown, never "no pain"

    def model_error_alert() -> list[dict]:
        listed = httpx.get(f"{base}/api/alerts", params={"status": "open"}, headers=admin).json()
        return [a for a in listed if a["kind"] == "model_error"]

    (alert,) = wait_for("a model_error technical alert", model_error_alert)
    assert alert["priority"] == "low" and "model output invalid: probabilities are not finite" in alert["reason"]
    metrics = httpx.get(f"{base}/metrics", headers=admin).text
    invalid = [line for line in metrics.splitlines() if line.startswith("painwatch_model_output_invalid_total")]
    assert invalid and float(invalid[0].split()[-1]) >= 1


def test_postgres_down_during_an_ack_answers_503_and_the_ack_survives_once_it_is_back(
    model_dir: Path, tmp_path: Path, port: int, serve, postgres_server: ThrowawayPostgres
) -> None:
    extra = (
        f"store: {{url: '{postgres_server.url}', retry_backoff_max_s: 1}}\n"
        # every face frame counts as pain: an episode opens from the real pipeline within seconds
        "aggregation: {window_s: 2, pain_threshold: 0.000001, min_face_share: 0.2}\n"
        "alerts: {open_after_s: 1, close_after_s: 600, high_after_s: 600}\n"
    )
    config = write_config(tmp_path, model_dir, port, extra)
    served = serve(config, port, ADMIN_PASSWORD)
    base = served.base
    admin = served.login()
    new_user = {"name": "nurse-a", "role": "nurse", "password": "nurse-a-password"}
    assert httpx.post(f"{base}/api/users", headers=admin, json=new_user).status_code == 201
    nurse = served.login("nurse-a", "nurse-a-password")

    def open_episode() -> list[dict]:
        listed = httpx.get(f"{base}/api/alerts", params={"status": "open"}, headers=nurse).json()
        return [a for a in listed if a["kind"] == "pain_episode"]

    (episode,) = wait_for("a pain episode", open_episode)
    assert httpx.get(f"{base}/readyz").status_code == 200

    postgres_server.stop("immediate")
    ack = {"verdict": "pain_confirmed", "note": "grimace and cry"}
    refused = httpx.post(f"{base}/api/alerts/{episode['id']}/ack", json=ack, headers=nurse, timeout=30)
    assert refused.status_code == 503, refused.text
    assert refused.json()["detail"].startswith("store unavailable: ") and "not saved" in refused.json()["detail"]

    def not_ready_for_the_store() -> dict | None:
        response = httpx.get(f"{base}/readyz", headers=nurse, timeout=30)  # the reasons are for logged-in users
        body = response.json()
        return body if response.status_code == 503 and any("store_unavailable" in p for p in body["problems"]) else None

    wait_for("/readyz to report the store", not_ready_for_the_store, 30)
    summary = asyncio.run(first_summary(f"ws://127.0.0.1:{port}/ws/beds", nurse))
    assert [c["name"] for c in summary["conditions"]] == ["store_unavailable"]
    live = httpx.get(f"{base}/api/beds/b1", headers=nurse, timeout=30)  # the bed is still watched meanwhile
    assert live.status_code == 200 and live.json()["summary"]["state"] in ("ok", "no_face")

    postgres_server.start()
    wait_for("/readyz to recover", lambda: httpx.get(f"{base}/readyz", timeout=30).status_code == 200, 60)
    stored = httpx.post(f"{base}/api/alerts/{episode['id']}/ack", json=ack, headers=nurse, timeout=30)
    assert stored.status_code == 200, stored.text
    assert stored.json()["acknowledged_by"] == "nurse-a" and stored.json()["status"] == "acknowledged"
    again = httpx.post(f"{base}/api/alerts/{episode['id']}/ack", json={"verdict": "not_pain"}, headers=nurse)
    assert again.status_code == 409 and "already acknowledged by nurse-a" in again.json()["detail"]

    served.process.send_signal(signal.SIGKILL)
    served.process.wait(10)
    served = serve(config, port, ADMIN_PASSWORD)
    admin = served.login()
    after = httpx.get(f"{base}/api/alerts/{episode['id']}", headers=admin).json()
    assert after["alert"]["acknowledged_by"] == "nurse-a" and after["alert"]["verdict"] == "pain_confirmed"
    assert after["alert"]["status"] == "acknowledged"
    assert [e["type"] for e in after["events"]].count("acknowledged") == 1
    audit = next(e for e in after["events"] if e["type"] == "acknowledged")
    assert audit["user"] == "nurse-a" and audit["details"]["note"] == "grimace and cry"


async def first_summary(url: str, headers: dict[str, str]) -> dict:
    async with websockets.connect(url, additional_headers=headers) as ws:
        return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))


Faults = dict[str, threading.Event]


class FaultyCapture:
    """The bed's real capture, with faults the test switches on: `crash` makes the worker's frame wait raise (the
    analysis thread dies of it), `hang` makes it block (the thread stops making progress)."""

    def __init__(self, real: Any, crash: threading.Event, hang: threading.Event) -> None:
        self._real, self._crash, self._hang = real, crash, hang

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def wait_next(self, after_sequence: int, timeout_s: float) -> Frame | None:
        if self._crash.is_set():
            raise RuntimeError("injected crash")
        while self._hang.is_set():
            time.sleep(0.05)
        return self._real.wait_next(after_sequence, timeout_s)


@pytest.fixture
def faulty_service(model_dir: Path, tmp_path: Path) -> Iterator[tuple[Service, str, dict[str, str], Faults]]:
    from service.pipeline.bed import real_capture

    faults = {"crash": threading.Event(), "hang": threading.Event()}
    video = write_demo_video(tmp_path / "v.mp4", seconds=3.0, fps=10.0, face_until_s=3.0)
    settings = settings_from_dict(
        {
            "beds": [{"id": "b1", "scale": "DAN", "analysis_rate_hz": 4,
                      "source": {"type": "video", "path": str(video)}}],
            "model": {"path": str(model_dir), "providers": ["CPUExecutionProvider"], "infer_timeout_s": 2},
            "alerts": {"stale_after_s": 1, "technical_min_on_s": 0, "technical_min_off_s": 1},
            "supervision": {"check_interval_s": 0.1, "stall_after_s": 3, "initial_backoff_s": 0.2, "max_backoff_s": 1},
            "server": {"port": 0},
            "data_dir": str(tmp_path / "data"),
        }
    )  # fmt: skip
    service = build_service(settings, lambda bed: FaultyCapture(real_capture(bed), faults["crash"], faults["hang"]))
    server, sock = make_server(service, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for("uvicorn", lambda: server.started)
    token = service.access.sessions.issue(add_user(service, "engineer", Role.ENGINEER))  # /metrics: engineers
    yield service, f"http://127.0.0.1:{sock.getsockname()[1]}", {"Authorization": f"Bearer {token}"}, faults
    faults["crash"].clear()
    faults["hang"].clear()
    server.should_exit = True
    thread.join(10)


def test_a_crashed_or_hung_worker_is_restarted_counted_and_alarmed(faulty_service) -> None:
    service, base, headers, faults = faulty_service
    http = httpx.Client(base_url=base, headers=headers, timeout=30)

    def bed() -> dict:
        return dict(http.get("/api/beds/b1").json()["summary"])

    def stale_alerts(status: str) -> list[dict]:
        return [a for a in http.get("/api/alerts", params={"status": status}).json() if a["kind"] == "stale"]

    wait_for("the bed to be analysed", lambda: bed()["state"] in ("ok", "no_face"))
    faults["crash"].set()

    def supervisor_says_stalled() -> dict | None:  # (age-based "stale" shows first; then the supervisor says why)
        b = bed()
        return b if (b["state_reason"] or "").startswith("analysis stalled:") else None

    stalled = wait_for("the crash to show", supervisor_says_stalled)
    assert stalled["state_reason"] == "analysis stalled: analysis thread died"
    assert stalled["smoothed_probability"] is None
    (alert,) = wait_for("a stale alert", lambda: stale_alerts("open"))
    assert alert["reason"].startswith("stale for more than 1 s: ")  # from the stale readings, or the silence itself
    wait_for("restarts with backoff", lambda: service.supervisor.restarts()["bed-b1/worker"] >= 2)
    not_ready = http.get("/readyz")
    assert not_ready.status_code == 503
    assert "analysis_stalled: bed-b1/worker: analysis thread died" in not_ready.json()["problems"]
    metrics = http.get("/metrics").text
    assert 'painwatch_component_restarts_total{component="bed-b1/worker"}' in metrics

    faults["crash"].clear()
    wait_for("the bed to recover", lambda: bed()["state"] in ("ok", "no_face"), 30)
    wait_for("the stale alert to close", lambda: [a for a in stale_alerts("closed") if a["id"] == alert["id"]], 30)
    wait_for("/readyz to recover", lambda: http.get("/readyz").status_code == 200, 30)

    restarts_before = service.supervisor.restarts()["bed-b1/worker"]
    faults["hang"].set()  # the worker blocks in its frame wait: no progress at all

    hung = wait_for("the hang to show", supervisor_says_stalled, 30)
    assert hung["state_reason"].startswith("analysis stalled: analysis stuck in waiting for a frame for ")
    wait_for("a restart of the hung worker", lambda: service.supervisor.restarts()["bed-b1/worker"] > restarts_before)
    faults["hang"].clear()
    wait_for("the bed to recover from the hang", lambda: bed()["state"] in ("ok", "no_face"), 30)
    http.close()


def test_a_flapping_source_gives_one_alert(model_dir: Path, tmp_path: Path, port: int, serve) -> None:
    """A recording that ends every 2 s and reopens after 2 s: the bed flaps between ok and no_signal for 25 s.
    Each outage is longer than no_signal_after_s, so without minimum on/off times every one would be an alert."""
    video = write_demo_video(tmp_path / "short.mp4", seconds=2.0, fps=10.0, face_until_s=2.0)
    config = tmp_path / "c.yaml"
    config.write_text(
        "beds: [{id: b1, scale: DAN, analysis_rate_hz: 4,\n"
        f"        source: {{type: video, path: '{video}', loop: false}},\n"
        "        capture: {backoff_initial_s: 2, backoff_max_s: 2}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        "alerts: {no_signal_after_s: 0.5, technical_min_on_s: 10, technical_min_off_s: 30, no_face_after_s: 600}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp_path / 'data'}'\n"
    )
    served = serve(config, port, ADMIN_PASSWORD)
    admin = served.login()
    seen_states: set[str] = set()
    started = time.monotonic()
    while time.monotonic() - started < 25:
        seen_states.add(httpx.get(f"{served.base}/api/beds/b1", headers=admin).json()["source"]["state"])
        time.sleep(0.2)
    assert seen_states == {"ok", "no_signal"}  # it really flapped
    reopens = httpx.get(f"{served.base}/api/beds/b1", headers=admin).json()["source"]["reopen_count"]
    assert reopens >= 3
    no_signal = [a for a in httpx.get(f"{served.base}/api/alerts", headers=admin).json() if a["kind"] == "no_signal"]
    assert len(no_signal) == 1 and no_signal[0]["status"] == "open", no_signal
