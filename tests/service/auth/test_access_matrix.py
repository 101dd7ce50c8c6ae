"""The authorization matrix, generated from the app's route table: every route x anonymous/nurse/engineer/admin,
with a bearer token (no CSRF header needed) and with the session cookie (every unsafe route refuses it without the
session's X-CSRF-Token: 403; with it, the role decides).

A route missing from POLICY fails `test_every_route_has_a_decision`: adding a route means deciding who may use it.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from service.api.deps import CSRF_HEADER, SESSION_COOKIE
from service.auth import Role
from service.auth.sessions import csrf_token
from tests.service.auth.conftest import auth_user_for

PUBLIC = None
POLICY: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): Role.ENGINEER,  # or Prometheus with auth.metrics_token (test below)
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): Role.NURSE,
    ("GET", "/api/auth/me"): Role.NURSE,
    ("POST", "/api/auth/password"): Role.NURSE,  # one's own password
    ("GET", "/api/users"): Role.ADMIN,
    ("POST", "/api/users"): Role.ADMIN,
    ("PATCH", "/api/users/{name}"): Role.ADMIN,
    ("DELETE", "/api/users/{name}"): Role.ADMIN,
    ("GET", "/api/audit"): Role.ADMIN,
    ("GET", "/api/beds"): Role.NURSE,
    ("GET", "/api/beds/{bed_id}"): Role.NURSE,
    ("GET", "/api/beds/{bed_id}/trend"): Role.NURSE,
    ("POST", "/api/beds/{bed_id}/pause"): Role.NURSE,
    ("POST", "/api/beds/{bed_id}/resume"): Role.NURSE,
    ("GET", "/api/alerts"): Role.NURSE,
    ("GET", "/api/alerts/{alert_id}"): Role.NURSE,
    ("POST", "/api/alerts/{alert_id}/ack"): Role.NURSE,
    ("GET", "/api/alerts/{alert_id}/snapshot"): Role.NURSE,
    ("GET", "/api/alerts/{alert_id}/snapshot/crop.jpg"): Role.NURSE,
    ("GET", "/api/alerts/{alert_id}/snapshot/gradcam.jpg"): Role.NURSE,
    ("GET", "/api/model"): Role.NURSE,
    ("POST", "/api/model/reload"): Role.ENGINEER,
    ("GET", "/openapi.json"): Role.NURSE,
    ("GET", "/docs"): Role.NURSE,
    ("GET", "/docs/assets/{name}"): Role.NURSE,  # Swagger UI's files (from the fastapi-offline package)
    ("WS", "/ws/beds/{bed_id}"): Role.NURSE,
    ("WS", "/ws/beds"): Role.NURSE,
    ("WS", "/ws/alerts"): Role.NURSE,
    # the dashboard's page and static files hold no data: public (the page asks /api/auth/me and shows its login)
    ("GET", "/"): PUBLIC,
    ("GET", "/dashboard"): PUBLIC,
    ("MOUNT", "/static"): PUBLIC,
}
CALLERS: list[Role | None] = [None, *Role]


def route_table(app) -> list[tuple[str, str]]:
    """(method or WS, path) of every route, included routers flattened, mounts (static files) included."""
    table = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIWebSocketRoute):
            table.append(("WS", route.path))
        elif route.methods:
            table.extend((method, route.path) for method in sorted(route.methods - {"HEAD"}))
        else:
            table.append(("MOUNT", route.path))
    return table


def concrete(path: str) -> str:
    """Path parameters filled with names that do not exist (so allowed calls end in 404/422, never a change)."""
    return path.replace("{bed_id}", "nope").replace("{alert_id}", "nope").replace("{name}", "nope")


def expected(required: Role | None, caller: Role | None) -> str:
    if required is None:
        return "allowed"
    if caller is None:
        return "401"
    return "allowed" if caller.allows(required) else "403"


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def cookie_headers(auth_service, caller: Role, csrf: str | None) -> dict[str, str]:
    """A fresh session of `caller` presented as the dashboard does: the cookie, and X-CSRF-Token when `csrf` is
    "own" (this session's token) or "other" (the token of another session of the same user)."""
    sessions = auth_service.service.access.sessions
    token = sessions.issue(auth_user_for(caller))
    headers = {"Cookie": f"{SESSION_COOKIE}={token}"}
    if csrf is not None:
        headers[CSRF_HEADER] = csrf_token(token if csrf == "own" else sessions.issue(auth_user_for(caller)))
    return headers


def http_outcome(
    auth_service, method: str, path: str, caller: Role | None, headers: dict[str, str] | None = None
) -> str:
    # A JSON body of the wrong shape: allowed calls are answered 422/404 without changing anything.
    body = {"unexpected": 1} if method in ("POST", "PATCH") else None
    if method == "MOUNT":  # a mounted app (static files): a file under it
        method, path = "GET", f"{path}/nope.css"
    if headers is None:
        headers = auth_service.headers(caller)
    response = auth_service.client.request(method, concrete(path), json=body, headers=headers)
    if response.status_code in (401, 403):
        if "CSRF check failed" in response.text:
            return "403 csrf"
        return str(response.status_code)
    assert response.status_code < 500 or path == "/readyz", (method, path, response.status_code, response.text)
    return "allowed"


def ws_outcome(auth_service, path: str, caller: Role | None) -> str:
    """1008 for no credentials; an accepted connection gets data or a different close code (4404 unknown bed)."""
    with auth_service.client.websocket_connect(concrete(path), headers=auth_service.headers(caller)) as ws:
        try:
            ws.receive_text()
        except WebSocketDisconnect as closed:
            return "401" if closed.code == 1008 else "allowed"
    return "allowed"


def test_every_route_has_a_decision(auth_service) -> None:
    routes = route_table(auth_service.service.app)
    undecided = sorted(set(routes) - set(POLICY))
    assert not undecided, f"routes without an access decision (add them to POLICY): {undecided}"
    assert sorted(set(POLICY) - set(routes)) == [], "POLICY names routes the app no longer has"


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.value if c else "anonymous")
def test_authorization_matrix(auth_service, caller: Role | None) -> None:
    got, want = {}, {}
    for method, path in route_table(auth_service.service.app):
        if (method, path) not in POLICY:
            continue  # reported by test_every_route_has_a_decision
        outcome = ws_outcome if method == "WS" else None
        got[method, path] = (
            outcome(auth_service, path, caller) if outcome else http_outcome(auth_service, method, path, caller)
        )
        want[method, path] = expected(POLICY[method, path], caller)
    assert got == want


@pytest.mark.parametrize("caller", list(Role), ids=lambda c: c.value)
def test_authorization_matrix_with_the_session_cookie(auth_service, caller: Role) -> None:
    """Cookie + the session's X-CSRF-Token: the same decisions as with a bearer token. Cookie without it, or with
    the token of another session: every unsafe route that needs a login answers 403 (CSRF), safe ones still answer."""
    got, want = {}, {}
    for method, path in route_table(auth_service.service.app):
        if (method, path) not in POLICY or method == "WS":  # WebSockets check the Origin instead (test_login.py)
            continue
        required = POLICY[method, path]
        for csrf in ("own", None, "other"):
            headers = cookie_headers(auth_service, caller, csrf)
            got[method, path, csrf] = http_outcome(auth_service, method, path, caller, headers)
            refused = csrf != "own" and method in UNSAFE and required is not PUBLIC
            want[method, path, csrf] = "403 csrf" if refused else expected(required, caller)
    assert got == want
    assert sum(1 for (m, _, csrf), v in got.items() if v == "403 csrf") >= 2 * 8  # the unsafe routes were covered


def test_bearer_requests_need_no_csrf_header_even_with_a_cookie(auth_service) -> None:
    """The bearer header wins over the cookie (no ambient credential); a non-bearer Authorization does not."""
    cookie = cookie_headers(auth_service, Role.NURSE, csrf=None)
    bearer = auth_service.headers(Role.NURSE)
    client = auth_service.client
    assert client.post("/api/beds/nope/resume", headers={**cookie, **bearer}).status_code == 404
    basic = {**cookie, "Authorization": "Basic bm9ib2R5Om5vdGhpbmc="}
    refused = client.post("/api/beds/nope/resume", headers=basic)
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["detail"]
    assert client.post("/api/beds/nope/resume", headers={**basic, CSRF_HEADER: "0" * 64}).status_code == 403


def test_metrics_for_prometheus_by_token_and_engineers_and_readyz_details_only_for_users(
    auth_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = auth_service.client
    monkeypatch.setattr(auth_service.service.settings.auth, "metrics_token", SecretStr("scrape-secret-1"))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=auth_service.headers(Role.NURSE)).status_code == 403
    for headers in ({"Authorization": "Bearer scrape-secret-1"}, auth_service.headers(Role.ENGINEER)):
        ok = client.get("/metrics", headers=headers)
        assert ok.status_code == 200 and "painwatch_inference_queue_depth" in ok.text
    anonymous = client.get("/readyz")
    assert set(anonymous.json()) == {"ready"}  # no bed ids, paths or model names
    detailed = client.get("/readyz", headers=auth_service.headers(Role.NURSE)).json()
    assert set(detailed) == {"ready", "model", "backend", "triton", "problems"}
    assert detailed["ready"] is (anonymous.status_code == 200)
    assert detailed["backend"] == "onnxruntime" and detailed["triton"] is None
