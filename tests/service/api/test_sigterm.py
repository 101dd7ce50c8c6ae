"""`painwatch serve` as a process: SIGTERM ends it within 5 s, and a connected client gets a close frame."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from service.demo_video import write_demo_video

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_shuts_down_within_5_s_and_closes_clients(model_dir: Path, tmp_path: Path) -> None:
    video = write_demo_video(tmp_path / "v.mp4", seconds=2.0, fps=10.0, face_until_s=2.0)
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp_path}'\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", "from training.cli import app; app()", "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PAINWATCH_ADMIN_PASSWORD": "sigterm-test-password"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "service did not become healthy"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)

        login = {"username": "admin", "password": "sigterm-test-password"}
        token = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json=login).json()["token"]

        async def client() -> tuple[int | None, float]:
            url, headers = f"ws://127.0.0.1:{port}/ws/beds/b1", {"Authorization": f"Bearer {token}"}
            async with websockets.connect(url, additional_headers=headers) as ws:
                await asyncio.wait_for(ws.recv(), 30)
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed as closed:
                    return (closed.rcvd.code if closed.rcvd else None), time.monotonic() - started

        close_code, _ = asyncio.run(client())
        sent = time.monotonic()
        process.wait(timeout=6)
        assert close_code in (1001, 1012)  # our "going away", or uvicorn's "service restart" close frame
        assert time.monotonic() - sent < 5.0
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown, so the status is -15 (or 0)
        assert process.returncode in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read() if process.stdout else ""
    assert f"http://127.0.0.1:{port}/docs" in output
    assert "service stopped in" in output  # the lifespan shutdown ran: sources closed, engine stopped
    assert "sigterm-test-password" not in output  # never printed nor logged
    assert "FIRST START" not in output  # the password came from the environment: nothing to show
