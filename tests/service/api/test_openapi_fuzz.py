"""Property-based fuzzing of the whole REST API from its own OpenAPI document (schemathesis + hypothesis), logged in
as an admin over a real uvicorn server: whatever the input, no answer is a server error (5xx)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from service.auth import AuthUser, Role
from service.config.settings import settings_from_dict
from service.demo_video import write_demo_video
from service.serve import Service, build_service, make_server

pytestmark = pytest.mark.timeout(600)

EXAMPLES_PER_OPERATION = 12
SKIPPED = {("POST", "/api/auth/password")}
"""Changing the admin's own password would lock the fuzzer out halfway (each case gets a fresh token otherwise)."""


@pytest.fixture(scope="module")
def live(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    video = write_demo_video(tmp / "v.mp4", seconds=2.0, fps=5.0, face_until_s=1.0)
    service_settings = settings_from_dict(
        {
            "beds": [{"id": "b1", "scale": "DAN", "source": {"type": "video", "path": str(video)}}],
            "model": {"path": str(model_dir), "providers": ["CPUExecutionProvider"], "root": str(tmp / "models")},
            "auth": {"login_rate_per_address": "1000/minute", "login_rate_global": "1000/minute"},
            "server": {"port": 0},
            "data_dir": str(tmp / "data"),
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAINWATCH_ADMIN_PASSWORD", "fuzz-admin-password-1")
        service = build_service(service_settings)
    server, sock = make_server(service, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield service, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


def test_no_input_makes_a_server_error(live: tuple[Service, str]) -> None:
    service, base = live
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    admin = AuthUser(name="admin", role=Role.ADMIN)
    operations = [result.ok() for result in schema.get_all_operations()]
    tested = []
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def no_server_error(case: schemathesis.Case) -> None:
            token = service.access.sessions.issue(admin)  # a fresh session: a fuzzed logout ends only its own
            response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                 response.text[:300])  # fmt: skip

        no_server_error()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 20, tested  # the whole API, not a corner of it
