"""Login, cookie flags, logout, rate limiting, WebSocket credentials (and their end), user management and the audit
log."""

from __future__ import annotations

import shutil
import time
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from service.aggregation import Scale
from service.auth import Role
from service.auth.sessions import csrf_token
from service.pipeline.messages import BedFrameMessage, BedState

ADMIN_PASSWORD = "admin-password-for-tests"  # what tests/service/auth/conftest.py sets


def fresh_client(auth_service, ip: str = "10.0.0.1", base_url: str = "http://testserver") -> TestClient:
    return TestClient(auth_service.service.app, client=(ip, 50000), base_url=base_url)


def session_cookie(response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


def audit_log(auth_service) -> list[tuple[str, str, dict]]:
    assert auth_service.service.alerts.writer.flush()
    return [(a.who, a.action, a.details) for a in auth_service.service.alerts.store.audit_entries()]


def test_login_sets_an_httponly_samesite_strict_cookie_and_logout_revokes(auth_service) -> None:
    client = fresh_client(auth_service)
    response = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {"name": "admin", "role": "admin", "must_change_password": False}
    assert len(body["token"]) >= 40 and body["csrf_token"] == csrf_token(body["token"])
    morsel = session_cookie(response)["painwatch_session"]
    assert morsel.value == body["token"]
    assert morsel["httponly"] is True and morsel["samesite"].lower() == "strict" and not morsel["secure"]
    assert morsel["path"] == "/" and int(morsel["max-age"]) == 12 * 3600
    # the cookie alone authenticates (the dashboard), and so does the bearer token (API clients)
    me = {"name": "admin", "role": "admin", "must_change_password": False, "csrf_token": body["csrf_token"]}
    assert client.get("/api/auth/me").json() == me
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert fresh_client(auth_service).get("/api/auth/me", headers=bearer).json()["name"] == "admin"

    assert client.post("/api/auth/logout").status_code == 403  # the cookie alone is not enough to change anything
    logout = client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert logout.status_code == 204
    assert 'painwatch_session=""' in logout.headers["set-cookie"] and "Max-Age=0" in logout.headers["set-cookie"]
    assert fresh_client(auth_service).get("/api/auth/me", headers=bearer).status_code == 401  # revoked
    assert ("admin", "auth.login") in [(w, a) for w, a, _ in audit_log(auth_service)]
    assert ("admin", "auth.logout") in [(w, a) for w, a, _ in audit_log(auth_service)]


def test_cookie_is_secure_over_tls(auth_service) -> None:
    client = fresh_client(auth_service, base_url="https://testserver")
    response = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert session_cookie(response)["painwatch_session"]["secure"] is True


def test_failures_slow_an_account_but_never_lock_it_and_an_address_over_its_rate_gets_429(auth_service) -> None:
    access = auth_service.service.access
    client = fresh_client(auth_service, ip="10.0.0.66")
    wrong = {"username": "admin", "password": "not-the-password"}
    assert [client.post("/api/auth/login", json=wrong).status_code for _ in range(5)] == [401] * 5
    assert access.throttle.delay_for("admin") == 1.0  # the next try waits 1 s before its password is checked
    right = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert right.status_code == 200  # slowed down, never locked out: an attacker cannot keep the ward out
    assert access.throttle.delay_for("admin") == 0.0
    # this address has made 6 of its 20 attempts a minute; 14 more are checked, then 429 without a hash
    statuses = [client.post("/api/auth/login", json={"username": f"ghost-{i}", "password": "x"}).status_code
                for i in range(16)]  # fmt: skip
    assert statuses == [401] * 14 + [429, 429]
    blocked = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 60  # even the right one
    other_address = fresh_client(auth_service, ip="10.0.0.67")
    assert (
        other_address.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    )
    entries = [(w, a, d) for w, a, d in audit_log(auth_service) if d.get("client") == "10.0.0.66"]
    actions = [a for _, a, _ in entries]
    assert (
        actions == ["auth.login_failed"] * 5 + ["auth.login"] + ["auth.login_failed"] * 14 + ["auth.login_blocked"] * 3
    )
    assert all("password" not in d for _, _, d in entries)


def test_websocket_by_cookie_and_cross_site_origin_refused(auth_service) -> None:
    token = auth_service.tokens[Role.NURSE]
    cookie = {"cookie": f"painwatch_session={token}"}
    with auth_service.client.websocket_connect("/ws/alerts", headers=cookie) as ws:
        assert ws.receive_json()["type"] == "alerts_snapshot"
    same_site = {**cookie, "origin": "http://testserver"}
    with auth_service.client.websocket_connect("/ws/beds", headers=same_site) as ws:
        assert ws.receive_json()["type"] == "summary"
    for headers in ({**cookie, "origin": "https://evil.example"}, {"cookie": "painwatch_session=forged"}):
        with auth_service.client.websocket_connect("/ws/alerts", headers=headers) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008


@pytest.mark.timeout(60)
def test_a_bed_stream_closes_when_its_session_is_logged_out(auth_service) -> None:
    nurse = auth_service.headers(Role.NURSE)
    with auth_service.client.websocket_connect("/ws/beds/b1", headers=nurse) as ws:
        subscriptions = [(w, d) for w, a, d in audit_log(auth_service) if a == "stream.subscribe"]
        assert subscriptions[-1] == ("test-nurse", {"bed_id": "b1"})  # who watched which bed's live faces
        assert fresh_client(auth_service).post("/api/auth/logout", headers=nurse).status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()  # the bed is idle here: the next thing on this socket is the close
    assert (closed.value.code, closed.value.reason) == (1008, "session ended")


def test_user_management_ends_sessions_and_is_audited(auth_service) -> None:
    admin = auth_service.headers(Role.ADMIN)
    client = fresh_client(auth_service)
    created = client.post("/api/users", json={"name": "nurse-x", "role": "nurse", "password": "x" * 12}, headers=admin)
    assert created.status_code == 201 and created.json()["role"] == "nurse"
    assert client.post("/api/users", json={"name": "nurse-x", "role": "nurse", "password": "y" * 12},
                       headers=admin).status_code == 409  # fmt: skip
    assert client.post("/api/users", json={"name": "short", "role": "nurse", "password": "y"},
                       headers=admin).status_code == 422  # fmt: skip
    token = client.post("/api/auth/login", json={"username": "nurse-x", "password": "x" * 12}).json()["token"]
    nurse = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/users", headers=nurse).status_code == 403
    promoted = client.patch("/api/users/nurse-x", json={"role": "engineer"}, headers=admin)
    assert promoted.json()["role"] == "engineer"
    assert client.get("/api/auth/me", headers=nurse).status_code == 401  # the old session ended with the change
    names = {u["name"]: u["role"] for u in client.get("/api/users", headers=admin).json()}
    assert names["admin"] == "admin" and names["nurse-x"] == "engineer"
    assert client.delete("/api/users/admin", headers=admin).status_code == 409  # the last admin stays
    assert client.delete("/api/users/nurse-x", headers=admin).status_code == 204
    assert client.delete("/api/users/nurse-x", headers=admin).status_code == 404
    changes = [(w, a, d) for w, a, d in audit_log(auth_service) if a.startswith("user.") and w == "admin"]
    assert changes == [
        ("admin", "user.create", {"name": "nurse-x", "role": "nurse"}),
        ("admin", "user.update", {"name": "nurse-x", "role": "engineer"}),
        ("admin", "user.delete", {"name": "nurse-x", "role": "engineer"}),
    ]


def frame(ts: float, score: int) -> BedFrameMessage:
    return BedFrameMessage(
        bed_id="b1", sequence=1, capture_ts=ts, published_ts=ts, state=BedState.OK, window_s=30.0,
        estimated_score=score, pain_fraction=0.9, scale=Scale.DAN, face_visible_share=1.0, low_evidence=False,
        latency_ms=1.0,
    )  # fmt: skip


def test_ack_pause_resume_and_reload_are_audited_as_the_logged_in_user(auth_service, model_dir) -> None:
    center = auth_service.service.alerts
    deadline = time.monotonic() + 10
    while not center.active_for("b1"):  # score 4 for open_after_s (1 s) on the center's real clock: an episode opens
        assert time.monotonic() < deadline
        center.observe(frame(time.time(), 4))
        time.sleep(0.1)
    (alert,) = center.active_for("b1")
    nurse, engineer = auth_service.headers(Role.NURSE), auth_service.headers(Role.ENGINEER)
    client = auth_service.client
    ack = client.post(f"/api/alerts/{alert.id}/ack", json={"verdict": "unsure", "note": "n"}, headers=nurse)
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "test-nurse"
    assert client.post(f"/api/alerts/{alert.id}/ack?user=someone", json={"verdict": "unsure"},
                       headers=nurse).status_code == 409  # fmt: skip
    assert client.post("/api/beds/b1/pause", json={"reason": "procedure"}, headers=nurse).status_code == 200
    assert client.post("/api/beds/b1/resume", headers=nurse).json()["paused_until"] is None
    corrupt = auth_service.tmp / "models" / "corrupt" / "1"
    corrupt.mkdir(parents=True)
    (corrupt / "model.onnx").write_bytes(b"\x00not onnx" * 32)
    refused = client.post("/api/model/reload", json={"name": "corrupt", "version": "1"}, headers=engineer)
    assert refused.status_code == 422
    good = auth_service.tmp / "models" / "good" / "1"
    shutil.copytree(model_dir, good)
    assert client.post("/api/model/reload", json={"name": "good", "version": "1"}, headers=engineer).status_code == 200
    entries = [(w, a, d) for w, a, d in audit_log(auth_service) if a.split(".")[0] in ("alert", "bed", "model")]
    assert [(w, a) for w, a, _ in entries] == [
        ("test-nurse", "alert.acknowledge"),
        ("test-nurse", "bed.pause"),
        ("test-nurse", "bed.resume"),
        ("test-engineer", "model.reload"),
        ("test-engineer", "model.reload"),
    ]
    assert entries[0][2] == {"alert_id": alert.id, "verdict": "unsure"}
    assert [d["outcome"] for _, _, d in entries[3:]] == ["refused", "ok"]
    assert entries[4][2]["name"] == "good" and len(entries[4][2]["sha256"]) == 64  # which file, exactly


def test_admins_read_the_audit_trail_with_filters_and_nobody_else(auth_service) -> None:
    client = fresh_client(auth_service, ip="10.0.0.90")
    assert client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    admin = auth_service.headers(Role.ADMIN)
    deadline = time.monotonic() + 10
    while True:  # the store writer seals new rows about once a second
        logins = client.get("/api/audit", params={"who": "admin", "action": "auth.login"}, headers=admin).json()
        if logins and logins[0]["hash"] is not None:
            break
        assert time.monotonic() < deadline, logins
        time.sleep(0.2)
    assert all(e["who"] == "admin" and e["action"].startswith("auth.login") for e in logins)
    assert logins[0]["details"]["client"] == "10.0.0.90" and len(logins[0]["hash"]) == 64
    ids = [e["id"] for e in logins]
    assert ids == sorted(ids, reverse=True)
    newest = logins[0]["ts"]
    assert client.get("/api/audit", params={"since": newest + 1}, headers=admin).json() == []
    assert client.get("/api/audit", headers=auth_service.headers(Role.ENGINEER)).status_code == 403
