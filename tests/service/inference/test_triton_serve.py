"""End to end with the Triton backend: one real Triton server (tests/support/triton.py) and one real `painwatch serve`
process with `model.backend: triton` and a video bed, for the whole module.

- scores and Grad-CAM JPEGs stream over the bed's WebSocket, computed by Triton; /api/model and /readyz name the
  backend, the Triton URL, model and version;
- Triton stopped: the bed shows `model_error` with the reason (never a score), its technical alert opens, the circuit
  opens and /readyz carries `triton_unavailable`; Triton started again on its port: the same service process scores
  again, the condition clears and the alert closes;
- the same crops through the local backend and through Triton give the same probabilities and maps (1e-5).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from service.config.settings import ModelConfig
from service.demo_video import write_demo_video
from service.inference import InferenceEngine
from service.inference.backends import model_loader
from service.inference.provenance import REFERENCE_FILE
from service.inference.triton import TritonConfig
from service.inference.triton_repo import RepoOptions, write_repository
from tests.service.conftest import ServedProcess
from tests.support.cli import start_serve
from tests.support.network import answers_ok, free_port, wait_for, wait_until_answering
from tests.support.triton import TritonServer, require_triton

pytestmark = pytest.mark.timeout(400)

ADMIN_PASSWORD = "triton-end-to-end-password"
JPEG_MAGIC = b"\xff\xd8"


@pytest.fixture(scope="module")
def triton(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TritonServer, Path]]:
    """Triton serving `painwatch/1` (published by `write_repository`, Python backend on CPU); yields the server and
    the local export it was published from."""
    require_triton()
    base = tmp_path_factory.mktemp("triton-serve")
    folder = base / "models" / "painwatch" / "1"
    shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns("training_report"))
    write_repository([folder], base / "repo", RepoOptions(backend="python", kind="cpu", max_batch=8))
    server = TritonServer(base / "repo", base).start()
    try:
        yield server, folder
    finally:
        server.stop()


@pytest.fixture(scope="module")
def node(triton: tuple[TritonServer, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    """`painwatch serve` (the console script's entry, service/main.py) with backend triton and one video bed."""
    server, folder = triton
    base = tmp_path_factory.mktemp("node")
    video = write_demo_video(base / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    port = free_port()
    config = base / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, analysis_rate_hz: 4, source: {{type: video, path: '{video}'}}}}]\n"
        f"model:\n  root: '{folder.parent.parent}'\n  path: '{folder}'\n  backend: triton\n  max_batch: 4\n"
        f"  triton: {{url: '{server.url}', timeout_s: 8, retries: 1, breaker_failures: 2, breaker_cooldown_s: 1}}\n"
        "alerts: {model_error_after_s: 1, technical_min_on_s: 0, technical_min_off_s: 0}\n"
        "stream: {heatmap_hz: 4}\n"
        f"server: {{port: {port}}}\ndata_dir: '{base / 'data'}'\n"
    )
    log = base / "service.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PAINWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    process = start_serve(["--config", str(config)], log, env)
    served = ServedProcess(process, port, log, ADMIN_PASSWORD)
    try:
        wait_until_answering(f"{served.base}/readyz", process, 150, served.output)
        yield served
    finally:
        served.stop()


def _ready(served: ServedProcess) -> bool:
    return answers_ok(f"{served.base}/readyz")


def bed_summary(served: ServedProcess, headers: dict[str, str]) -> dict[str, Any]:
    return httpx.get(f"{served.base}/api/beds/b1", headers=headers, timeout=30).json()["summary"]


def open_model_error_alerts(served: ServedProcess, headers: dict[str, str]) -> list[dict[str, Any]]:
    listed = httpx.get(f"{served.base}/api/alerts", params={"status": "open"}, headers=headers, timeout=30).json()
    return [a for a in listed if a["kind"] == "model_error"]


async def scored_frame_and_heatmap(url: str, headers: dict[str, str]) -> tuple[dict[str, Any], bytes]:
    """The first frame message with a probability and a Grad-CAM image, and that image."""
    async with websockets.connect(url, additional_headers=headers) as ws:
        while True:
            message = await asyncio.wait_for(ws.recv(), 60)
            if isinstance(message, bytes):
                continue
            frame = json.loads(message)
            if frame.get("type") == "frame" and frame["state"] == "ok" and frame["heatmap_follows"]:
                image = await asyncio.wait_for(ws.recv(), 30)
                assert isinstance(image, bytes)
                return frame, image


def test_scores_and_gradcam_stream_from_triton(node: ServedProcess, triton: tuple[TritonServer, Path]) -> None:
    server, folder = triton
    headers = node.login()
    frame, image = asyncio.run(scored_frame_and_heatmap(f"ws://127.0.0.1:{node.port}/ws/beds/b1", headers))
    assert 0.0 <= frame["pain_probability"] <= 1.0 and frame["face"] is not None
    assert frame["model"]["name"] and frame["model"]["version"]
    assert image[:2] == JPEG_MAGIC  # the pain-class Grad-CAM over the crop

    report = httpx.get(f"{node.base}/api/model", headers=headers, timeout=30).json()
    assert report["backend"] == "triton"
    assert report["triton"] == {
        "url": server.url, "model": "painwatch", "version": "1", "max_batch_size": 8, "circuit": "closed",
        "problem": None,
    }  # fmt: skip
    assert report["path"] == str(folder / "model.onnx")
    ready = httpx.get(f"{node.base}/readyz", headers=headers, timeout=30).json()
    assert ready["ready"] and ready["backend"] == "triton" and ready["triton"]["url"] == server.url
    assert ready["triton"]["model"] == "painwatch" and ready["triton"]["version"] == "1"


def test_triton_down_gives_model_error_and_alert_then_recovers(
    node: ServedProcess, triton: tuple[TritonServer, Path]
) -> None:
    server, _ = triton
    headers = node.login()
    pid = node.process.pid
    wait_for("a score before the outage", lambda: bed_summary(node, headers)["state"] == "ok", log=node.output)

    server.stop()

    def in_model_error() -> dict[str, Any] | None:
        summary = bed_summary(node, headers)
        return summary if summary["state"] == "model_error" else None

    summary = wait_for("the bed to show model_error", in_model_error, log=node.output)
    assert summary["state_reason"].startswith("model unavailable: inference failed: Triton at " + server.url)
    assert summary["pain_probability"] is None  # unknown now, never a stale score nor "no pain"
    (alert,) = wait_for(
        "the model_error technical alert", lambda: open_model_error_alerts(node, headers), log=node.output
    )
    assert f"Triton at {server.url}" in alert["reason"]

    def not_ready_for_triton() -> dict[str, Any] | None:
        response = httpx.get(f"{node.base}/readyz", headers=headers, timeout=30)
        body = response.json()
        found = response.status_code == 503 and any(p.startswith("triton_unavailable: ") for p in body["problems"])
        return body if found else None

    body = wait_for("/readyz to carry triton_unavailable", not_ready_for_triton, log=node.output)
    assert body["triton"]["circuit"] in ("open", "half_open") and body["triton"]["problem"]
    report = httpx.get(f"{node.base}/api/model", headers=headers, timeout=30).json()
    assert report["triton"]["circuit"] != "closed" and "consecutive failed calls" in report["triton"]["problem"]
    assert node.process.poll() is None  # the service never dies of Triton being down

    server.start()  # the same port: the service's gRPC channel reconnects by itself

    wait_for("/readyz to recover", lambda: _ready(node), log=node.output)
    wait_for("a score again", lambda: bed_summary(node, headers)["pain_probability"] is not None, log=node.output)
    wait_for("the model_error alert to close", lambda: not open_model_error_alerts(node, headers), log=node.output)
    report = httpx.get(f"{node.base}/api/model", headers=headers, timeout=30).json()
    assert report["triton"]["circuit"] == "closed" and report["triton"]["problem"] is None
    assert node.process.pid == pid and node.process.poll() is None  # no restart of the service


def test_triton_and_the_local_backend_agree_on_the_same_crops(triton: tuple[TritonServer, Path]) -> None:
    """The export's reference crops (real model inputs) through two engines, one per backend: same probabilities
    and same Grad-CAM maps within 1e-5."""
    server, folder = triton
    with np.load(folder / REFERENCE_FILE) as reference:
        crops = reference["crops"]
    results = {}
    for backend in ("onnxruntime", "triton"):
        config = ModelConfig(
            root=folder.parent.parent, path=folder, backend=backend, providers=["CPUExecutionProvider"],
            triton=TritonConfig(url=server.url),
        )  # fmt: skip
        engine = InferenceEngine(config.path, max_batch=4, max_wait_ms=50, loader=model_loader(config))
        engine.start()
        try:
            futures = [engine.submit(crop) for crop in crops]
            results[backend] = [f.result(60) for f in futures]
        finally:
            engine.stop()
    local, remote = results["onnxruntime"], results["triton"]
    assert len(local) == len(remote) == len(crops) >= 8
    np.testing.assert_allclose(
        [r.pain_probability for r in remote], [r.pain_probability for r in local], atol=1e-5, rtol=0
    )
    np.testing.assert_allclose(np.stack([r.gradcam for r in remote]), np.stack([r.gradcam for r in local]), atol=1e-5)
    assert {r.model.name for r in remote} == {r.model.name for r in local}
