"""Service test fixtures: a real exported model (the demo model when committed, else one exported once here)."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.cli import start_serve
from tests.support.network import free_port, wait_until_answering

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "exported_models" / "demo-synthetic" / "1"
CACHE_KEY = "painwatch/test-model-224-v1"


def _is_complete(folder: Path) -> bool:
    return (folder / "model.onnx").is_file() and (folder / "model_card.json").is_file()


def _export_random_model(out: Path) -> None:
    """A real 224-px export of the thesis architecture with seeded random weights (~40 s on this CPU)."""
    from training.model.architecture import build_model
    from training.model.checkpoint import save_checkpoint
    from training.model.export import ExportOptions, export_checkpoint

    staging = out.parent / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    save_checkpoint(build_model(seed=3), staging / "ck", {"demo": True})
    export_checkpoint(staging / "ck", out, ExportOptions(name="test-random", version="1", overwrite=True))
    shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="session")
def model_dir(request: pytest.FixtureRequest) -> Path:
    """An exported model folder honouring the contract; exported once and kept in pytest's cache between runs."""
    if _is_complete(DEMO_MODEL):
        return DEMO_MODEL
    cache_root = Path(request.config.cache.mkdir(CACHE_KEY.replace("/", "-")))
    out = cache_root / "exported" / "1"
    if not _is_complete(out):
        _export_random_model(out)
    return out


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the model folder (tests that corrupt or replace files use this)."""
    target = tmp_path / "model" / "1"
    shutil.copytree(model_dir, target)
    return target


@dataclass
class ServedProcess:
    """A real `painwatch serve` process; its console output goes to a file (an unread pipe would fill and stall it)."""

    process: subprocess.Popen[str]
    port: int
    log: Path
    admin_password: str | None
    tls: ssl.SSLContext | None = None
    """Set when the service speaks HTTPS: a client context trusting its certificate."""

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return self.tls or True

    def output(self) -> str:
        return self.log.read_text()

    def login(self, username: str = "admin", password: str | None = None) -> dict[str, str]:
        """Bearer headers for a user (default: the first-start admin, whose password the test set)."""
        credentials = {"username": username, "password": password or self.admin_password}
        response = httpx.post(f"{self.base}/api/auth/login", json=credentials, verify=self.verify)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then kill if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


Serve = Callable[..., ServedProcess]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start `painwatch serve --config CONFIG` on PORT with ADMIN_PASSWORD (None: none in the environment, so a
    first start generates one) and wait for /healthz (over HTTPS trusting `tls` when given); every process started
    is killed at teardown."""
    started: list[ServedProcess] = []

    def start(config: Path, port: int, admin_password: str | None, tls: ssl.SSLContext | None = None) -> ServedProcess:
        log = tmp_path / f"service-{len(started) + 1}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PAINWATCH_ADMIN_PASSWORD", None)
        if admin_password is not None:
            env["PAINWATCH_ADMIN_PASSWORD"] = admin_password
        process = start_serve(["--config", str(config)], log, env)
        served = ServedProcess(process, port, log, admin_password, tls)
        started.append(served)
        wait_until_answering(f"{served.base}/healthz", process, 90, served.output, served.verify)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


@pytest.fixture
def port() -> int:
    """A free loopback port for a service the test starts."""
    return free_port()
