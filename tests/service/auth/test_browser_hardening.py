"""Browser hardening on the real app (TestClient): security headers on every response, Swagger UI served from the
service (no other host, no inline script), and the change-required password flow (admin-set flag, 403 until
POST /api/auth/password, other sessions ended, audited). CSRF per route: test_access_matrix.py; a real TLS service
on its first start: test_first_start_and_tls.py; the dashboard under the CSP in Chromium: tests/service/web."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect

from service.api.middleware import CONTENT_SECURITY_POLICY, SecurityHeaders
from service.auth import Role
from service.auth.sessions import csrf_token

HARDENING = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_csp_allows_only_this_origin_and_no_inline_code() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


def test_security_headers_on_dashboard_static_api_errors_and_no_hsts_without_tls(auth_service) -> None:
    client = auth_service.client
    nurse = auth_service.headers(Role.NURSE)
    responses = {
        "dashboard": client.get("/"),
        "module": client.get("/static/js/app.js"),
        "api": client.get("/api/beds", headers=nurse),
        "health": client.get("/healthz"),
        "401": client.get("/api/beds"),
        "404": client.get("/no/such/page"),
        "422": client.post("/api/auth/login", json={"unexpected": 1}),
        "413": client.post("/api/auth/login", content=b"x" * 70_000, headers={"content-type": "application/json"}),
    }
    assert [r.status_code for r in responses.values()] == [200, 200, 200, 200, 401, 404, 422, 413]
    for name, response in responses.items():
        for header, value in HARDENING.items():
            assert response.headers.get(header) == value, (name, header)
        assert "strict-transport-security" not in response.headers, name  # plain HTTP here (loopback, no TLS)
    assert responses["module"].headers["content-type"].startswith("text/javascript")  # right type under nosniff


def test_hsts_only_when_told_the_browser_comes_over_tls() -> None:
    async def app(scope, receive, send) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    with_tls = TestClient(SecurityHeaders(app, hsts=True)).get("/")
    assert with_tls.headers["strict-transport-security"] == "max-age=31536000"
    assert with_tls.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in TestClient(SecurityHeaders(app, hsts=False)).get("/").headers


def test_docs_page_is_served_locally_without_inline_script_and_only_to_users(auth_service) -> None:
    client = auth_service.client
    assert client.get("/docs").status_code == 401 and client.get("/docs/assets/swagger-ui-bundle.js").status_code == 401
    nurse = auth_service.headers(Role.NURSE)
    page = client.get("/docs", headers=nurse)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    html = page.text
    assert not re.search(r"https?:|//[a-z]", html, re.IGNORECASE), "the docs page must reference no other host"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts and all(not body.strip() and "src=" in attrs for attrs, body in scripts)  # no inline script
    assert not re.search(r"\son[a-z]+=", html) and "style=" not in html  # no inline handlers or styles
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert set(urls) == {
        "/docs/assets/swagger-ui.css",
        "/docs/assets/favicon.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/static/docs/swagger-init.js",
    }
    types = {"css": "text/css", "png": "image/png", "js": "javascript"}
    for url in urls:
        asset = client.get(url, headers=nurse)
        assert asset.status_code == 200 and len(asset.content) > 100, url
        assert types[url.rsplit(".", 1)[1]] in asset.headers["content-type"], url
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js", headers=nurse).text
    for other in ("index.html", "swagger-ui.js.map", "..%2F__init__.py", "nope"):
        assert client.get(f"/docs/assets/{other}", headers=nurse).status_code == 404, other
    assert client.get("/openapi.json", headers=nurse).json()["info"]["title"]


def audit_log(auth_service) -> list[tuple[str, str, dict]]:
    assert auth_service.service.alerts.writer.flush()
    return [(a.who, a.action, a.details) for a in auth_service.service.alerts.store.audit_entries()]


def login(client: TestClient, name: str, password: str) -> dict:
    response = client.post("/api/auth/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.timeout(120)
def test_a_handed_out_password_must_be_changed_before_anything_else(auth_service) -> None:
    app = auth_service.service.app
    admin = auth_service.headers(Role.ADMIN)
    handed_out, own = "handed-out-password-1", "nurse-own-password-2"
    new_user = {"name": "nurse-new", "role": "nurse", "password": handed_out, "must_change_password": True}
    created = auth_service.client.post("/api/users", json=new_user, headers=admin)
    assert created.status_code == 201 and created.json()["must_change_password"] is True

    station, other_station = TestClient(app), TestClient(app)  # the dashboard (cookie) and a second station
    first = login(station, "nurse-new", handed_out)
    assert first["user"]["must_change_password"] is True
    other = {"Authorization": f"Bearer {login(other_station, 'nurse-new', handed_out)['token']}"}
    csrf = {"X-CSRF-Token": first["csrf_token"]}

    refused = station.get("/api/beds")
    assert refused.status_code == 403 and refused.json()["detail"].startswith("change your password first")
    assert station.post("/api/beds/b1/resume", headers=csrf).status_code == 403
    assert station.get("/metrics").status_code == 403 and station.get("/docs").status_code == 403
    me = station.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["must_change_password"] is True
    with station.websocket_connect("/ws/alerts") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "change your password first")

    change = {"current_password": handed_out, "new_password": own}
    assert station.post("/api/auth/password", json=change).status_code == 403  # the cookie needs its CSRF token
    assert (
        station.post("/api/auth/password", json={**change, "new_password": handed_out}, headers=csrf).status_code == 400
    )
    changed = station.post("/api/auth/password", json=change, headers=csrf)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"name": "nurse-new", "role": "nurse", "must_change_password": False,
                              "csrf_token": csrf_token(first["token"])}  # fmt: skip

    assert station.get("/api/beds").status_code == 200  # this session goes on, now unrestricted
    assert station.get("/api/auth/me").json()["must_change_password"] is False
    assert other_station.get("/api/auth/me", headers=other).status_code == 401  # the other session ended
    assert station.post("/api/auth/login", json={"username": "nurse-new", "password": handed_out}).status_code == 401
    entries = [(w, a, d) for w, a, d in audit_log(auth_service) if d.get("name") == "nurse-new"]
    assert ("admin", "user.create", {"name": "nurse-new", "role": "nurse", "must_change_password": True}) in entries
    changes = [d for w, a, d in entries if a == "user.password_change"]
    assert len(changes) == 1 and changes[0]["name"] == "nurse-new" and "password" not in str(changes[0]).lower()

    # an admin can require a change again (a reset password handed out on paper): the sessions end
    reset = auth_service.client.patch(
        "/api/users/nurse-new", json={"password": "second-handed-out-1", "must_change_password": True}, headers=admin
    )
    assert reset.status_code == 200 and reset.json()["must_change_password"] is True
    assert station.get("/api/auth/me").status_code == 401
    assert login(TestClient(app), "nurse-new", "second-handed-out-1")["user"]["must_change_password"] is True


def test_a_wrong_current_password_counts_as_a_failed_login(auth_service) -> None:
    access = auth_service.service.access
    client = TestClient(auth_service.service.app, client=("10.9.9.9", 50000))
    engineer = {"Authorization": f"Bearer {login(client, 'test-engineer', 'engineer-password-for-tests')['token']}"}
    before = access.throttle.delay_for("test-engineer")
    wrong = {"current_password": "not-my-password", "new_password": "whatever-new-password"}
    for _ in range(6):
        answer = client.post("/api/auth/password", json=wrong, headers=engineer)
        assert answer.status_code == 400 and answer.json()["detail"] == "the current password is wrong"
    assert access.throttle.delay_for("test-engineer") > before  # guessing through this route is slowed down too
    access.throttle.succeeded("test-engineer")
    failures = [a for w, a, d in audit_log(auth_service) if w == "test-engineer" and a == "auth.password_change_failed"]
    assert len(failures) == 6
