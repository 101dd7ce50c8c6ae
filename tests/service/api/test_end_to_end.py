"""End to end: uvicorn on 127.0.0.1, real `websockets` clients, a synthetic video, a failing source, reload.

One server for the module (model load and warm-up once); each test reads what it needs from it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import jsonschema
import numpy as np
import pytest
import websockets

from service.api.schemas import SCHEMA_DIR
from service.auth import Role
from service.config.settings import settings_from_dict
from service.demo_video import write_demo_video
from service.serve import Service, build_service, make_server
from tests.support.users import add_user

pytestmark = pytest.mark.timeout(240)

SCHEMA = json.loads((SCHEMA_DIR / "bed_frame.schema.json").read_text())


@dataclass
class Running:
    service: Service
    base: str
    ws: str
    tmp: Path
    headers: dict[str, str]
    """An engineer's bearer token (issued directly: these tests are about streaming, not about logging in)."""
    http: httpx.Client


@pytest.fixture(scope="module")
def running(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("e2e")
    # Face for 2 s, then 2 s without: every loop shows both states.
    video = write_demo_video(tmp / "face-then-none.mp4", seconds=4.0, fps=15.0, face_until_s=2.0)
    garbage = tmp / "not-a-video.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    settings = settings_from_dict(
        {
            "beds": [
                {"id": "face", "scale": "DAN", "source": {"type": "video", "path": str(video)}, "analysis_rate_hz": 5},
                {"id": "broken", "scale": "FLACC", "source": {"type": "video", "path": str(garbage)}},
            ],
            "model": {
                "path": str(model_dir),
                "providers": ["CPUExecutionProvider"],
                "max_wait_ms": 5,
                "root": str(tmp / "models"),
            },
            "stream": {"heatmap_hz": 2, "client_queue": 2, "send_timeout_s": 3},
            "server": {"port": 0, "client_send_buffer_bytes": 16384},
            "data_dir": str(tmp / "data"),
        }
    )
    service = build_service(settings)
    server, sock = make_server(service, log_level="warning")
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    token = service.access.sessions.issue(add_user(service, "e2e", Role.ENGINEER))
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers=headers) as http:
        yield Running(service, base, f"ws://127.0.0.1:{port}", tmp, headers, http)
    server.should_exit = True
    thread.join(10)


async def collect(running: Running, path: str, until, timeout_s: float = 60.0) -> list[str | bytes]:
    """Messages from a WebSocket until `until(messages)` is true."""
    received: list[str | bytes] = []
    async with websockets.connect(f"{running.ws}{path}", max_size=2**22, additional_headers=running.headers) as ws:
        deadline = time.monotonic() + timeout_s
        while not until(received):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out; got {len(received)} messages"
            received.append(await asyncio.wait_for(ws.recv(), remaining))
    return received


def frames(messages: list[str | bytes]) -> list[dict]:
    return [json.loads(m) for m in messages if isinstance(m, str)]


def test_frames_validate_and_heatmaps_decode(running: Running) -> None:
    def enough(ms: list) -> bool:
        return sum(isinstance(m, bytes) for m in ms) >= 2

    messages = asyncio.run(collect(running, "/ws/beds/face", enough))
    parsed = frames(messages)
    for message in parsed:
        jsonschema.validate(message, SCHEMA)
        assert message["bed_id"] == "face" and message["scale"] == "DAN"
    ok = [m for m in parsed if m["state"] == "ok"]
    assert ok, [m["state"] for m in parsed]
    for m in ok:
        assert 0.0 <= m["pain_probability"] <= 1.0 and 0.0 <= m["smoothed_probability"] <= 1.0
        assert m["face"]["w"] > 20 and m["detector_score"] >= 0.5
        assert m["model"]["name"] and m["latency_ms"] > 0 and m["timings"]["infer_ms"] > 0
    sequences = [m["sequence"] for m in parsed]
    assert sequences == sorted(sequences)
    # every binary message follows a JSON message that announced it, and is a 224x224 JPEG
    for i, message in enumerate(messages):
        if isinstance(message, bytes):
            assert json.loads(messages[i - 1])["heatmap_follows"] is True
            image = cv2.imdecode(np.frombuffer(message, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape == (224, 224, 3)


def test_face_that_disappears_is_no_face_with_null_probability(running: Running) -> None:
    def both_states(ms: list) -> bool:
        states = [m["state"] for m in frames(ms)]
        return "no_face" in states and "ok" in states[states.index("no_face") :] if "no_face" in states else False

    parsed = frames(asyncio.run(collect(running, "/ws/beds/face", both_states)))
    no_face = [m for m in parsed if m["state"] == "no_face"]
    for m in no_face:
        assert m["pain_probability"] is None and m["smoothed_probability"] is None
        assert m["face"] is None and m["state_reason"] == "no face detected"
        jsonschema.validate(m, SCHEMA)
    assert any(m["face_visible_share"] < 1.0 for m in parsed)


def test_failing_source_is_no_signal(running: Running) -> None:
    parsed = frames(asyncio.run(collect(running, "/ws/beds/broken", lambda ms: len(ms) >= 2, timeout_s=30)))
    for m in parsed:
        jsonschema.validate(m, SCHEMA)
        assert m["state"] == "no_signal" and m["pain_probability"] is None and m["estimated_score"] is None
        assert m["state_reason"]
    ready = running.http.get("/readyz")
    assert ready.status_code == 503 and any("broken" in p for p in ready.json()["problems"])
    bed = running.http.get("/api/beds/broken").json()
    assert bed["summary"]["state"] == "no_signal" and bed["source"]["state"] == "no_signal"


def test_slow_client_loses_frames_and_capture_keeps_going(running: Running) -> None:
    def bed() -> dict:
        return running.http.get("/api/beds/face").json()

    async def scenario() -> tuple[dict, list]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window: the server's sends back up
        sock.connect(("127.0.0.1", int(running.base.rsplit(":", 1)[1])))
        url = f"{running.ws}/ws/beds/face"
        async with websockets.connect(
            url, sock=sock, max_queue=1, ping_interval=None, additional_headers=running.headers
        ):
            deadline = time.monotonic() + 90
            while bed()["clients"]["messages_dropped"] == 0:  # the stuck client never reads
                assert time.monotonic() < deadline, "no drops counted for a client that never reads"
                await asyncio.sleep(0.5)
            during = bed()
            # meanwhile a healthy client still gets live frames
            healthy = await collect(running, "/ws/beds/face", lambda ms: len(frames(ms)) >= 6, 60)
        return during, healthy

    captured_before = bed()["source"]["frames_captured"]
    during, healthy = asyncio.run(scenario())
    assert during["clients"]["messages_dropped"] > 0
    assert during["source"]["frames_captured"] > captured_before + 15  # capture never waited for the client
    assert len(frames(healthy)) >= 6
    metrics = running.http.get("/metrics").text
    prefix = 'painwatch_frames_dropped{bed="face",where="clients"}'
    dropped = [line for line in metrics.splitlines() if line.startswith(prefix)]
    assert dropped and float(dropped[0].split()[-1]) > 0


def test_model_reload_good_and_corrupt(running: Running) -> None:
    before = running.http.get("/api/model").json()
    root = running.tmp / "models"
    corrupt = root / "corrupt" / "1"
    corrupt.mkdir(parents=True)
    (corrupt / "model.onnx").write_bytes(b"\x00corrupt onnx" * 64)
    refused = running.http.post("/api/model/reload", json={"name": "corrupt", "version": "1"}, timeout=60)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "previous model keeps serving" in detail and "cannot load" in detail and str(root) not in detail
    assert running.http.get("/api/model").json()["path"] == before["path"]
    # only by name and version under the models root: no paths, no way out
    outside = running.http.post("/api/model/reload", json={"path": str(Path(before["path"]).parent)})
    assert outside.status_code == 422
    assert running.http.post("/api/model/reload", json={"name": "..", "version": "1"}).status_code == 422
    assert running.http.post("/api/model/reload", json={"name": "absent", "version": "1"}).status_code == 404

    good = root / "good" / "1"
    shutil.copytree(Path(before["path"]).parent, good)
    swapped = running.http.post("/api/model/reload", json={"name": "good", "version": "1"}, timeout=120)
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["path"] == str((good / "model.onnx").resolve()) and len(swapped.json()["sha256"]) == 64
    parsed = frames(
        asyncio.run(collect(running, "/ws/beds/face", lambda ms: any(m["state"] == "ok" for m in frames(ms))))
    )
    assert any(m["state"] == "ok" and 0 <= m["pain_probability"] <= 1 for m in parsed)
    refused_total = 'painwatch_model_reloads_total{outcome="refused"} 2.0'  # the corrupt and the absent one
    assert refused_total in running.http.get("/metrics").text


def test_rest_summary_and_metrics(running: Running) -> None:
    assert running.http.get("/healthz").json() == {"status": "ok"}
    beds = running.http.get("/api/beds").json()
    assert [b["summary"]["bed_id"] for b in beds] == ["face", "broken"]
    assert running.http.get("/api/beds/nope").status_code == 404
    card = running.http.get("/api/model").json()["card"]
    assert card["outputs"] and card["name"]
    summary = json.loads(asyncio.run(collect(running, "/ws/beds", lambda ms: len(ms) >= 1))[0])
    assert summary["type"] == "summary" and {b["bed_id"] for b in summary["beds"]} == {"face", "broken"}
    metrics = running.http.get("/metrics").text
    for name in (
        'painwatch_analysed_fps{bed="face"}',
        'painwatch_stage_seconds_bucket{bed="face",le="0.5",stage="detect"}',
        "painwatch_inference_batch_size_count",
        'painwatch_face_found_ratio{bed="face"}',
        "painwatch_inference_queue_depth",
        'painwatch_client_queue_depth{bed="face"}',
    ):
        assert name in metrics, name
    assert "/api/model/reload" in running.http.get("/openapi.json").text


async def anonymous_close_code(url: str) -> int | None:
    async with websockets.connect(url) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def test_anonymous_is_refused_over_real_http_and_websockets(running: Running) -> None:
    assert httpx.get(f"{running.base}/api/beds").status_code == 401
    assert httpx.get(f"{running.base}/healthz").status_code == 200
    for path in ("/ws/beds", "/ws/beds/face", "/ws/alerts"):  # a real close frame, not a refused handshake
        assert asyncio.run(anonymous_close_code(f"{running.ws}{path}")) == 1008, path
