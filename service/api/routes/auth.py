"""Log in (token + HttpOnly, SameSite=Strict session cookie), log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import SESSION_COOKIE, CurrentUser, SessionToken, access_control
from service.api.state import ServiceState, get_state
from service.auth import AccessControl, AuthUser, LoginBlocked, LoginFailed

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, description="User name.")
    password: str = Field(min_length=1, max_length=1024, description="Password.")


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token for API and WebSocket clients (the cookie carries the same).")
    user: AuthUser = Field(description="Who logged in.")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure_cookie(request: Request, state: ServiceState) -> bool:
    """Secure whenever the browser reaches us over TLS: our own TLS, or a TLS proxy in front."""
    server = state.settings.server
    return request.url.scheme == "https" or server.tls or server.behind_tls_proxy


@router.post(
    "/login",
    summary="Log in: a token, and the session cookie for browsers (429 when the address or the service is over its "
    "login rate; repeated failures on an account slow its next tries down)",
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    access: Annotated[AccessControl, Depends(access_control)],
    state: Annotated[ServiceState, Depends(get_state)],
) -> LoginResponse:
    # The password hash runs on its own thread (AccessControl), never in the pool the API and WebSockets share.
    try:
        token, user = await access.login(body.username, body.password, _client(request))
    except LoginBlocked as exc:
        raise HTTPException(status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from exc
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
    return LoginResponse(token=token, user=user)


@router.post("/logout", status_code=204, summary="Log out: the token is revoked and the cookie cleared")
def logout(
    user: CurrentUser, token: SessionToken, access: Annotated[AccessControl, Depends(access_control)]
) -> Response:
    access.logout(token, user)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", summary="The logged-in user")
def me(user: CurrentUser) -> AuthUser:
    return user
