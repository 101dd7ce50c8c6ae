"""Several real `painwatch serve` nodes of one ward on loopback (tests/service/ward, tests/service/web): a tiny
model (tests/support/models.py) and the synthetic face video, every face frame counted as pain, one shared
PostgreSQL. `start_ward` starts the first node alone (it creates the schema), then the others together."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.demo_video import write_demo_video
from tests.service.conftest import ServedProcess
from tests.support.cli import start_serve
from tests.support.models import write_dark_mouth_model
from tests.support.network import free_port, wait_until_answering

ADMIN_PASSWORD = "ward-test-admin-password"
DOWN_AFTER_S = 5


@dataclass
class Ward:
    root: Path
    model: Path
    video: Path
    postgres_url: str
    nodes: dict[str, ServedProcess]

    def config(self, name: str, beds: list[str], port: int, node_id: str | None = None) -> Path:
        source = f"{{type: video, path: '{self.video}'}}"
        bed_list = ", ".join(
            f"{{id: {b}, label: 'Cot {b}', scale: DAN, analysis_rate_hz: 2, source: {source}}}" for b in beds
        )
        path = self.root / f"{name}.yaml"
        path.write_text(
            f"beds: [{bed_list}]\n"
            f"node: {{id: {node_id or name}, advertise_url: 'http://127.0.0.1:{port}', down_after_s: {DOWN_AFTER_S}}}\n"
            f"store: {{url: '{self.postgres_url}'}}\n"
            f"model: {{path: '{self.model}', providers: [CPUExecutionProvider]}}\n"
            "aggregation: {window_s: 2, pain_threshold: 0.000001, min_face_share: 0.2}\n"  # every face frame is pain
            "alerts: {open_after_s: 1, close_after_s: 600, high_after_s: 600, escalate_after_s: 600,"
            " technical_min_on_s: 2, technical_min_off_s: 2}\n"
            "snapshots: {enabled: false}\n"
            f"server: {{port: {port}}}\ndata_dir: '{self.root / name}'\n"
        )
        return path

    def launch(
        self, name: str, beds: list[str], port: int | None = None, role: str = "node", node_id: str | None = None
    ) -> subprocess.Popen[str]:
        """Start node `name` (its node.id too unless `node_id` is given) without waiting for it."""
        port = port if port is not None else free_port()
        log = self.root / f"{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PAINWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD}
        config = self.config(name, beds, port, node_id)
        process = start_serve(["--config", str(config), "--role", role], log, env, append=True)
        self.nodes[name] = ServedProcess(process, port, log, ADMIN_PASSWORD)
        return process

    def wait_healthy(self, name: str) -> ServedProcess:
        served = self.nodes[name]
        wait_until_answering(f"{served.base}/healthz", served.process, 120, served.output)
        return served


@contextmanager
def start_ward(
    postgres_url: str, model_dir: Path, root: Path, layout: dict[str, list[str]], roles: dict[str, str] | None = None
) -> Iterator[Ward]:
    """Nodes named by `layout` (node id -> its bed ids; none = a view-only node) with their `serve --role` (default
    node), all killed at the end."""
    roles = roles or {}
    model = write_dark_mouth_model(root / "mouth" / "1", model_dir)  # tiny: several nodes share two cores
    video = write_demo_video(root / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    ward = Ward(root, model, video, postgres_url, {})
    names = list(layout)
    try:
        ward.launch(names[0], layout[names[0]], role=roles.get(names[0], "node"))
        ward.wait_healthy(names[0])  # the first node creates the schema: the others start on it
        for name in names[1:]:
            ward.launch(name, layout[name], role=roles.get(name, "node"))
        for name in names[1:]:
            ward.wait_healthy(name)
        yield ward
    finally:
        for served in ward.nodes.values():
            if served.process.poll() is None:
                served.process.kill()
                served.process.wait()
