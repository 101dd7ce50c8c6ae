"""One real service (real model, SQLite store, one bed) behind a TestClient; users of every role with tokens.

A session token only resolves for a user in the users table (with the role the table gives them): the fixture
creates `test-nurse` and `test-engineer`; admin tokens belong to the first-start `admin` (the only admin, so the
last-admin rule stays testable).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.auth import AuthUser, Role
from service.auth.users import ADMIN_NAME
from service.config.settings import settings_from_dict
from service.demo_video import write_demo_video
from service.serve import Service, build_service

ADMIN_PASSWORD = "admin-password-for-tests"


@dataclass
class AuthService:
    service: Service
    client: TestClient
    tokens: dict[Role, str]
    tmp: Path

    def headers(self, role: Role | None) -> dict[str, str]:
        """A fresh token per call (a logout in one request cannot break the next)."""
        if role is None:
            return {}
        token = self.service.access.sessions.issue(auth_user_for(role))
        return {"Authorization": f"Bearer {token}"}


def auth_user_for(role: Role) -> AuthUser:
    return AuthUser(name=ADMIN_NAME if role == Role.ADMIN else f"test-{role.value}", role=role)


@pytest.fixture(scope="module")
def auth_service(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthService]:
    tmp = tmp_path_factory.mktemp("auth")
    video = write_demo_video(tmp / "v.mp4", seconds=1.0, fps=5.0, face_until_s=1.0)
    settings = settings_from_dict(
        {
            "beds": [{"id": "b1", "scale": "DAN", "source": {"type": "video", "path": str(video)}}],
            "model": {"path": str(model_dir), "providers": ["CPUExecutionProvider"], "root": str(tmp / "models")},
            "alerts": {"open_after_s": 1},
            "data_dir": str(tmp / "data"),
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAINWATCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        service = build_service(settings)
    writer = service.alerts.writer
    writer.start()  # the store writer only (audit entries); beds and engine stay idle
    client = TestClient(service.app)
    for role in (Role.NURSE, Role.ENGINEER):
        service.access.users.create(auth_user_for(role).name, role, f"{role.value}-password-for-tests", by="fixture")
    tokens = {role: service.access.sessions.issue(auth_user_for(role)) for role in Role}
    yield AuthService(service, client, tokens, tmp)
    writer.stop()
    service.alerts.store.close()
