"""`painwatch serve` as a process: SIGTERM ends it within 5 s, and a connected client gets a close frame."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
import websockets

from service.demo_video import write_demo_video

pytestmark = pytest.mark.timeout(180)


def test_sigterm_shuts_down_within_5_s_and_closes_clients(model_dir: Path, tmp_path: Path, port: int, serve) -> None:
    video = write_demo_video(tmp_path / "v.mp4", seconds=2.0, fps=10.0, face_until_s=2.0)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp_path}'\n"
    )
    served = serve(config, port, "sigterm-test-password")
    process = served.process
    headers = served.login()

    async def client() -> tuple[int | None, float]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/beds/b1", additional_headers=headers) as ws:
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
    assert process.returncode == 0  # a graceful stop is a normal end for a service manager, not "killed by -15"
    output = served.output()
    assert f"http://127.0.0.1:{port}/docs" in output
    assert "service stopped in" in output  # the lifespan shutdown ran: sources closed, engine stopped, queue drained
    assert "sigterm-test-password" not in output  # never printed nor logged
    assert "FIRST START" not in output  # the password came from the environment: nothing to show
