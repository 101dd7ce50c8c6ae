"""Dependencies shared by the routes, as `Annotated` aliases: who is calling, and what their role allows.

A request proves who it is with `Authorization: Bearer <token>` (API clients) or the `painwatch_session`
cookie (the dashboard); a WebSocket the same way (browsers cannot set headers on WebSockets, so they use the
cookie, and then the Origin, when sent, must be this host: no cross-site WebSocket hijacking). A WebSocket keeps
the token it presented, so its stream can end when the session does.

CSRF: SameSite=Strict keeps other sites' pages from sending the cookie, but not same-site ones (another port or
subdomain of the hospital's host). So an unsafe request (POST, PUT, PATCH, DELETE) authenticated by the cookie must
also carry `X-CSRF-Token`: an HMAC of the session token (service/auth/sessions.py), returned by login and
`GET /api/auth/me`; missing or wrong: 403. A page of another origin can neither read it nor send a custom header
without a CORS preflight this service never grants. Bearer requests carry no ambient credential and need none.

A user who must change their password (generated first-start password) gets 403 from every route except
`/api/auth/me`, `/api/auth/password` and logout (which use `authenticated_user`), and WebSockets close (1008).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from service.api.state import ServiceState, get_state
from service.auth import AccessControl, AuthUser, Role
from service.auth.sessions import csrf_valid

SESSION_COOKIE = "painwatch_session"
CLOSE_POLICY_VIOLATION = 1008
"""WebSocket close code for a connection without valid credentials, or whose session ended."""
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHANGE_PASSWORD_FIRST = "change your password first (POST /api/auth/password)"

_bearer = HTTPBearer(auto_error=False, description="The token from POST /api/auth/login.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Set by POST /api/auth/login.")


def access_control(connection: HTTPConnection) -> AccessControl:
    state: ServiceState = connection.app.state.service
    if state.access is None:
        raise HTTPException(status_code=503, detail="access control is not configured in this service instance")
    return state.access


def session_token(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str | None:
    """The presented token: the bearer header when there is one, else the session cookie."""
    return bearer.credentials if bearer is not None else cookie


def authenticated_user(request: Request, token: Annotated[str | None, Depends(session_token)]) -> AuthUser:
    """The session's user (401 without one), with the CSRF check; also a user who must change their password
    first: only /api/auth/me, /api/auth/password and logout use this directly."""
    user = access_control(request).authenticate(token)
    if user is None or token is None:
        raise HTTPException(status_code=401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"})
    cookie_authenticated = not _bearer_presented(request)
    if (
        request.method not in SAFE_METHODS
        and cookie_authenticated
        and not csrf_valid(token, request.headers.get(CSRF_HEADER))
    ):
        raise HTTPException(
            status_code=403,
            detail=f"CSRF check failed: a request authenticated by the session cookie needs the {CSRF_HEADER} "
            "header of its session (from the login answer or GET /api/auth/me)",
        )
    return user


def current_user(request: Request, token: Annotated[str | None, Depends(session_token)]) -> AuthUser:
    """The session's user; 403 while they must change their password first."""
    user = authenticated_user(request, token)
    if user.must_change_password:
        raise HTTPException(status_code=403, detail=CHANGE_PASSWORD_FIRST)
    return user


def _bearer_presented(request: Request) -> bool:
    """The token came from `Authorization: Bearer` (as HTTPBearer reads it), not from the cookie."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("Authorization"))
    return scheme.lower() == "bearer" and bool(credentials)


AuthenticatedUser = Annotated[AuthUser, Depends(authenticated_user)]
CurrentUser = Annotated[AuthUser, Depends(current_user)]
SessionToken = Annotated[str, Depends(session_token)]


def RequireRole(role: Role) -> Any:  # reads like a type in `Annotated[AuthUser, RequireRole(Role.ADMIN)]`
    """A dependency: the current user when their role is `role` or above; 403 otherwise."""

    def require(user: CurrentUser) -> AuthUser:
        if not user.role.allows(role):
            raise HTTPException(status_code=403, detail=f"requires the {role.value} role (you are {user.role.value})")
        return user

    return Depends(require)


NurseUser = Annotated[AuthUser, RequireRole(Role.NURSE)]
EngineerUser = Annotated[AuthUser, RequireRole(Role.ENGINEER)]
AdminUser = Annotated[AuthUser, RequireRole(Role.ADMIN)]


def metrics_reader(request: Request, token: Annotated[str | None, Depends(session_token)]) -> AuthUser | None:
    """/metrics names beds and models: Prometheus presents `auth.metrics_token` as its bearer token; people log in
    with the engineer role or above. Anonymous callers get 401."""
    expected = get_state(request).settings.auth.metrics_token
    if expected is not None and token is not None and hmac.compare_digest(token, expected.get_secret_value()):
        return None
    user = current_user(request, token)
    if not user.role.allows(Role.ENGINEER):
        raise HTTPException(status_code=403, detail=f"requires the engineer role (you are {user.role.value})")
    return user


def optional_user(request: Request, token: Annotated[str | None, Depends(session_token)]) -> AuthUser | None:
    """The logged-in user, or None (anonymous, or the session cannot be checked now): for routes that answer
    everyone but tell logged-in users more."""
    if token is None:
        return None
    try:
        return access_control(request).authenticate(token)
    except Exception:  # e.g. the store is down: answer as to an anonymous caller
        return None


OptionalUser = Annotated[AuthUser | None, Depends(optional_user)]


@dataclass(frozen=True)
class WebSocketCaller:
    """Who is behind a WebSocket, and the token they presented: the stream re-checks it while it runs."""

    user: AuthUser | None
    token: str | None
    access: AccessControl

    async def session_valid(self) -> bool:
        """False once the session has ended (logout, expiry, idle, user changed or deleted). A check counts as
        activity, so an open stream keeps its session from idling out; it runs in the thread pool (it may query the
        database). A database error propagates once memory may no longer vouch for the session."""
        if self.token is None:
            return False
        return await run_in_threadpool(self.access.authenticate, self.token) is not None


def websocket_caller(websocket: WebSocket) -> WebSocketCaller:
    """The user behind a WebSocket (None: the route closes it with 1008) and their token."""
    access = access_control(websocket)
    token = _websocket_token(websocket)
    return WebSocketCaller(access.authenticate(token), token, access)


def _websocket_token(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    origin = websocket.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != websocket.headers.get("host"):
        return None  # a cookie sent by another site's page
    return websocket.cookies.get(SESSION_COOKIE)


WsCaller = Annotated[WebSocketCaller, Depends(websocket_caller)]


async def accept_authenticated(websocket: WebSocket, caller: WebSocketCaller) -> bool:
    """Accept the WebSocket; without a user close it at once with 1008 (a real close frame, not an HTTP 403)."""
    await websocket.accept()
    if caller.user is None:
        await websocket.close(CLOSE_POLICY_VIOLATION, "authentication required")
        return False
    if caller.user.must_change_password:
        await websocket.close(CLOSE_POLICY_VIOLATION, "change your password first")
        return False
    return True
