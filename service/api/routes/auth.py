"""Log in (token + HttpOnly, SameSite=Strict session cookie), log out, who am I, and change one's own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import SESSION_COOKIE, AuthenticatedUser, SessionToken, access_control
from service.api.state import ServiceState, get_state
from service.auth import AccessControl, AuthUser, LoginBlocked, LoginFailed, UserNotFound, WrongPassword
from service.auth.models import PASSWORD_MIN
from service.auth.sessions import csrf_token

router = APIRouter(prefix="/api/auth", tags=["auth"])

Access = Annotated[AccessControl, Depends(access_control)]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, description="User name.")
    password: str = Field(min_length=1, max_length=1024, description="Password.")


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token for API and WebSocket clients (the cookie carries the same).")
    user: AuthUser = Field(description="Who logged in (must_change_password: only POST /api/auth/password, "
                           "GET /api/auth/me and logout answer until a new password is set).")  # fmt: skip
    csrf_token: str = Field(
        description="Send it as the X-CSRF-Token header with every POST/PUT/PATCH/DELETE authenticated by the "
        "session cookie (bearer requests need none)."
    )


class Me(AuthUser):
    csrf_token: str = Field(description="The session's X-CSRF-Token (for requests authenticated by the cookie).")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024, description="The password in use now.")
    new_password: str = Field(
        min_length=PASSWORD_MIN, max_length=1024, description=f"At least {PASSWORD_MIN} characters."
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure_cookie(request: Request, state: ServiceState) -> bool:
    """Secure whenever the browser reaches us over TLS: our own TLS, or a TLS proxy in front."""
    server = state.settings.server
    return request.url.scheme == "https" or server.tls or server.behind_tls_proxy


def _blocked(exc: LoginBlocked) -> HTTPException:
    return HTTPException(status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)})


@router.post(
    "/login",
    summary="Log in: a token, and the session cookie for browsers (429 when the address or the service is over its "
    "login rate; repeated failures on an account slow its next tries down)",
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    access: Access,
    state: Annotated[ServiceState, Depends(get_state)],
) -> LoginResponse:
    # The password hash runs on its own thread (AccessControl), never in the pool the API and WebSockets share.
    try:
        token, user = await access.login(body.username, body.password, _client(request))
    except LoginBlocked as exc:
        raise _blocked(exc) from exc
    except LoginFailed as exc:
        raise HTTPException(status_code=401, detail="unknown user or wrong password") from exc
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=round(access.config.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=_secure_cookie(request, state),
        path="/",
    )
    return LoginResponse(token=token, user=user, csrf_token=csrf_token(token))


@router.post("/logout", status_code=204, summary="Log out: the token is revoked and the cookie cleared")
def logout(user: AuthenticatedUser, token: SessionToken, access: Access) -> Response:
    access.logout(token, user)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", summary="The logged-in user, and the session's CSRF token")
def me(user: AuthenticatedUser, token: SessionToken) -> Me:
    return Me(**user.model_dump(), csrf_token=csrf_token(token))


@router.post(
    "/password",
    summary="Change your own password (400 when the current one is wrong); your other sessions end, this one stays",
)
async def change_password(
    body: PasswordChange, request: Request, user: AuthenticatedUser, token: SessionToken, access: Access
) -> Me:
    if body.new_password == body.current_password:
        raise HTTPException(status_code=400, detail="the new password must differ from the current one")
    try:
        updated = await access.change_password(user, token, body.current_password, body.new_password, _client(request))
    except LoginBlocked as exc:
        raise _blocked(exc) from exc
    except WrongPassword as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except UserNotFound as exc:  # deleted meanwhile
        raise HTTPException(status_code=401, detail="authentication required") from exc
    return Me(**updated.model_dump(), csrf_token=csrf_token(token))
