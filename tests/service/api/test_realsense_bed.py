"""A bed whose source is a RealSense recording the test makes itself, played back by the service through
`rs.pipeline` (the same code path as a live D435i), analysed, and streamed to a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import websockets

from service.auth import Role
from service.config.settings import settings_from_dict
from service.serve import build_service, make_server
from service.sources.realsense_synthetic import write_realsense_recording
from tests.support.users import add_user

pytestmark = pytest.mark.timeout(240)


def face_frames(count: int) -> list[np.ndarray]:
    """640x480 frames with the real astronaut face photo drifting slowly (skimage ships the photo)."""
    from skimage import data

    photo = data.astronaut()[30:330, 100:350]  # head and shoulders
    frames = []
    for i in range(count):
        frame = np.full((480, 640, 3), 90, np.uint8)
        x, y = 180 + 2 * i, 90
        frame[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
        frames.append(frame)
    return frames


async def first_messages(url: str, count: int, timeout_s: float, headers: dict[str, str]) -> list[dict]:
    messages: list[dict] = []
    async with websockets.connect(url, max_size=2**22, additional_headers=headers) as ws:
        deadline = time.monotonic() + timeout_s
        while len(messages) < count:
            message = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
            if isinstance(message, str):
                messages.append(json.loads(message))
    return messages


def test_service_analyses_a_realsense_recording(model_dir: Path, tmp_path: Path) -> None:
    recording = tmp_path / "bed.db3"
    assert write_realsense_recording(recording, face_frames(30), fps=15) == 30
    settings = settings_from_dict(
        {
            "beds": [{"id": "rs", "scale": "DAN", "source": {"type": "realsense", "recording": str(recording)}}],
            "model": {"path": str(model_dir), "providers": ["CPUExecutionProvider"], "max_wait_ms": 5},
            "server": {"port": 0},
            "data_dir": str(tmp_path / "data"),
        }
    )
    service = build_service(settings)
    server, sock = make_server(service, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        port = sock.getsockname()[1]
        token = service.access.sessions.issue(add_user(service, "test", Role.NURSE))
        headers = {"Authorization": f"Bearer {token}"}
        messages = asyncio.run(first_messages(f"ws://127.0.0.1:{port}/ws/beds/rs", 6, 90, headers))
    finally:
        server.should_exit = True
        thread.join(10)
    ok = [m for m in messages if m["state"] == "ok"]
    assert ok, [(m["state"], m.get("state_reason")) for m in messages]
    for message in ok:
        assert 0.0 <= message["pain_probability"] <= 1.0
        box = message["face"]
        assert 150 <= box["x"] <= 450 and box["w"] > 40  # the astronaut's face, where the recording put it
