"""Sessions on a real `painwatch serve` process: a nurse's login survives `kill -9` and a restart (the session is
in the database), and open WebSockets close with 1008 "session ended" within 5 s of a logout (/ws/beds) or of
the admin deleting the user (/ws/alerts)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from unittest.mock import ANY

import httpx
import pytest
import websockets
from websockets.frames import Close

from service.demo_video import write_demo_video

pytestmark = pytest.mark.timeout(240)

ADMIN_PASSWORD = "sessions-live-admin-password"
NURSE = {"name": "nurse-s", "role": "nurse", "password": "nurse-s-password"}
ENDED_WITHIN_S = 5.0


def write_config(tmp: Path, model_dir: Path, port: int) -> Path:
    video = write_demo_video(tmp / "face.mp4", seconds=2.0, fps=5.0, face_until_s=2.0)
    config = tmp / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, analysis_rate_hz: 1, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp / 'data'}'\n"
    )
    return config


async def close_after(url: str, headers: dict[str, str], end_session: Callable[[], httpx.Response]) -> Close:
    """Open a stream, see it deliver, end the session; the close frame the server sends within ENDED_WITHIN_S."""
    async with websockets.connect(url, additional_headers=headers) as ws:
        await asyncio.wait_for(ws.recv(), 30)
        deadline = time.monotonic() + ENDED_WITHIN_S
        response = await asyncio.to_thread(end_session)
        assert response.status_code == 204, response.text
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:  # messages may still arrive before the close; a TimeoutError here fails the test
                await asyncio.wait_for(ws.recv(), max(0.0, deadline - time.monotonic()))
    assert closed.value.rcvd is not None, "the server did not send a close frame"
    return closed.value.rcvd


def test_logins_survive_kill_9_and_streams_close_when_the_session_ends(
    model_dir: Path, tmp_path: Path, port: int, serve
) -> None:
    config = write_config(tmp_path, model_dir, port)
    served = serve(config, port, ADMIN_PASSWORD)
    base, ws = served.base, f"ws://127.0.0.1:{port}"
    admin = served.login()
    assert httpx.post(f"{base}/api/users", json=NURSE, headers=admin).status_code == 201
    nurse = served.login(NURSE["name"], NURSE["password"])
    nurse_streams = served.login(NURSE["name"], NURSE["password"])  # a second station of the same nurse

    served.process.send_signal(signal.SIGKILL)
    served.process.wait(10)
    served = serve(config, port, ADMIN_PASSWORD)
    me = httpx.get(f"{base}/api/auth/me", headers=nurse)
    assert me.status_code == 200
    assert me.json() == {"name": "nurse-s", "role": "nurse", "must_change_password": False, "csrf_token": ANY}
    assert httpx.get(f"{base}/api/auth/me", headers={"Authorization": "Bearer forged"}).status_code == 401

    logout = close_after(
        f"{ws}/ws/beds", nurse_streams, lambda: httpx.post(f"{base}/api/auth/logout", headers=nurse_streams)
    )
    closed = asyncio.run(logout)
    assert (closed.code, closed.reason) == (1008, "session ended")
    assert httpx.get(f"{base}/api/auth/me", headers=nurse_streams).status_code == 401
    assert httpx.get(f"{base}/api/auth/me", headers=nurse).status_code == 200  # the other session lives on

    deletion = close_after(
        f"{ws}/ws/alerts", nurse, lambda: httpx.delete(f"{base}/api/users/{NURSE['name']}", headers=admin)
    )
    closed = asyncio.run(deletion)
    assert (closed.code, closed.reason) == (1008, "session ended")
    assert httpx.get(f"{base}/api/auth/me", headers=nurse).status_code == 401
