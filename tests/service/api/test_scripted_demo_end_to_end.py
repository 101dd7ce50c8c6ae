"""The scripted demo end to end on a real `painwatch serve` with the shipped demo model and the default clinical
settings (what `make run` shows): the pain episode opens within 60 s of the scripted onset, the estimated DAN face
score reaches 3 or more during it, the calm segments open no pain alert and keep the score below 3, and the
episode closes in the calm that follows. Runs the whole 260 s demo in real time, so it is marked slow
(`make test-slow`).

With PAINWATCH_UPDATE_SCREENSHOT=1 it also refreshes docs/dashboard-episode.png (the bed detail during the
episode, live Grad-CAM included) for the README; otherwise it never writes into the repository.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets

from service.demo_video import write_scripted_demo
from service.evaluation.truth import read_truth
from tests.support.ci import require_or_skip
from tests.support.detectors import require_detector_models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
DEMO_MODEL = REPO / "exported_models" / "demo-synthetic" / "1"
SCREENSHOT = REPO / "docs" / "dashboard-episode.png"
ADMIN_PASSWORD = "scripted-demo-admin-password"


@dataclass
class Watched:
    frames: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


async def _watch(url: str, headers: dict[str, str], until: float, into: list[dict]) -> None:
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        while time.monotonic() < until:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, until - time.monotonic()))
            except TimeoutError:
                return
            if isinstance(raw, str):
                into.append(json.loads(raw))


def watch_in_background(port: int, headers: dict[str, str], seconds: float) -> Watched:
    """Bed frames and alert events, collected by real WebSocket clients on their own thread (the main thread may
    drive a browser meanwhile)."""
    watched = Watched()
    until = time.monotonic() + seconds

    async def both() -> None:
        await asyncio.gather(
            _watch(f"ws://127.0.0.1:{port}/ws/beds/b1", headers, until, watched.frames),
            _watch(f"ws://127.0.0.1:{port}/ws/alerts", headers, until, watched.events),
        )

    thread = threading.Thread(target=lambda: (asyncio.run(both()), watched.done.set()), daemon=True)
    thread.start()
    return watched


def video_origin(frames: list[dict], no_face_start_s: float) -> float:
    """Wall time of the video's t=0: the first no-face frame shows the scripted no-face segment's start (to within
    one analysed frame)."""
    first = next(f for f in frames if f.get("type") == "frame" and f["state"] == "no_face")
    return float(first["capture_ts"]) - no_face_start_s


def test_the_demo_model_catches_the_scripted_episode(port: int, serve, tmp_path: Path) -> None:
    require_detector_models()
    if not DEMO_MODEL.joinpath("model.onnx").is_file():
        require_or_skip("no demo model in exported_models/ (it is committed: is the checkout complete?)")
    video, sidecar = write_scripted_demo(tmp_path / "synthetic-demo.mp4")
    truth = read_truth(sidecar)
    [pain] = truth.pain_segments()
    no_face = next(s for s in truth.segments if s.label == "no_face")
    config = tmp_path / "c.yaml"
    config.write_text(  # the default settings of `make run`, the video played once
        "beds: [{id: b1, label: 'Bed 1', scale: DAN, "
        f"source: {{type: video, path: '{video}', loop: false}}}}]\n"
        f"model: {{path: '{DEMO_MODEL}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp_path / 'data'}'\n"
    )
    served = serve(config, port, ADMIN_PASSWORD)
    admin = served.login()
    watched = watch_in_background(port, admin, truth.duration_s + 5)
    if os.environ.get("PAINWATCH_UPDATE_SCREENSHOT") == "1":
        screenshot_during_episode(served.base, watched, tmp_path)
    assert watched.done.wait(truth.duration_s + 60)

    origin = video_origin(watched.frames, no_face.start_s)
    frames = [(float(f["capture_ts"]) - origin, f) for f in watched.frames if f.get("type") == "frame"]
    pain_alerts = [e for e in watched.events if (e.get("alert") or {}).get("kind") == "pain_episode"]
    opened = [e for e in pain_alerts if e["event"]["type"] == "opened"]
    assert len(opened) == 1, [e["event"] for e in pain_alerts]
    opened_at = float(opened[0]["alert"]["opened_at"]) - origin
    assert pain.start_s < opened_at <= pain.start_s + 60, f"opened {opened_at:.1f} s into the video"
    closed = [e for e in pain_alerts if e["event"]["type"] == "closed"]
    assert closed and float(closed[0]["event"]["ts"]) - origin < no_face.start_s
    scores_in_pain = [f["estimated_score"] for t, f in frames if pain.start_s + 20 <= t < pain.end_s]
    assert max(s for s in scores_in_pain if s is not None) >= 3
    # the calm before the onset and the last calm segment: scored, and below the alert level
    calm = [f["estimated_score"] for t, f in frames if t < pain.start_s or t >= no_face.end_s + 30]
    assert calm and all(s is not None and s < 3 for s in calm if s is not None), calm


def screenshot_during_episode(base: str, watched: Watched, tmp_path: Path) -> None:
    """The bed detail (live Grad-CAM) 10 s after the episode opened, copied to docs/ for the README."""
    from tests.support.browser import chromium

    deadline = time.monotonic() + 150
    while not any(e["event"]["type"] == "opened" for e in watched.events if (e.get("alert") or {}).get("kind")
                  == "pain_episode"):  # fmt: skip
        assert time.monotonic() < deadline, "no pain episode opened for the screenshot"
        time.sleep(0.5)
    with chromium(tmp_path / "chromium-profile") as context:
        page = context.new_page()
        page.goto(f"{base}/")
        page.fill("#login-username", "admin")
        page.fill("#login-password", ADMIN_PASSWORD)
        page.click("#login-submit")
        page.wait_for_timeout(2000)
        page.goto(f"{base}/#/beds/b1")
        page.wait_for_timeout(10_000)
        page.locator("img.gradcam").wait_for(state="visible", timeout=15_000)
        page.screenshot(path=str(tmp_path / "episode.png"))
    shutil.copyfile(tmp_path / "episode.png", SCREENSHOT)
