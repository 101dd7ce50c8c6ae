"""The authorization matrix, generated from the app's route table: every route x anonymous/nurse/engineer/admin.

A route missing from POLICY fails `test_every_route_has_a_decision`: adding a route means deciding who may use it.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from service.auth import Role

PUBLIC = None
POLICY: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): Role.ENGINEER,  # or Prometheus with auth.metrics_token (test below)
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): Role.NURSE,
    ("GET", "/api/auth/me"): Role.NURSE,
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


def http_outcome(auth_service, method: str, path: str, caller: Role | None) -> str:
    # A JSON body of the wrong shape: allowed calls are answered 422/404 without changing anything.
    body = {"unexpected": 1} if method in ("POST", "PATCH") else None
    if method == "MOUNT":  # a mounted app (static files): a file under it
        method, path = "GET", f"{path}/nope.css"
    response = auth_service.client.request(method, concrete(path), json=body, headers=auth_service.headers(caller))
    if response.status_code in (401, 403):
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
    assert set(detailed) == {"ready", "model", "problems"} and detailed["ready"] is (anonymous.status_code == 200)
