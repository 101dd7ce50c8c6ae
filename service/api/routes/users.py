"""User management (admin only). Every change is audited; a changed or deleted user's sessions end at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import AdminUser, RequireRole, access_control
from service.auth import AccessControl, Role, UserExists, UserNotFound
from service.auth.models import PASSWORD_MIN, USERNAME_PATTERN, UserPublic
from service.auth.users import LastAdmin

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[RequireRole(Role.ADMIN)])

Access = Annotated[AccessControl, Depends(access_control)]
UserName = Annotated[str, Path(max_length=100)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=USERNAME_PATTERN, description="Letters, digits, '.', '_' and '-' (no patient data).")
    role: Role = Field(description="nurse | engineer | admin.")
    password: str = Field(min_length=PASSWORD_MIN, max_length=1024, description="At least 10 characters.")
    must_change_password: bool = Field(
        default=False, description="The user must set their own password at their first login (a handed-out one)."
    )


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = Field(default=None, description="New role.")
    password: str | None = Field(
        default=None, min_length=PASSWORD_MIN, max_length=1024, description="New password (at least 10 characters)."
    )
    must_change_password: bool | None = Field(
        default=None, description="true: the user must set their own password at their next login."
    )


@router.get("", summary="Every user with their role")
def list_users(access: Access) -> list[UserPublic]:
    return access.users.list()


@router.post("", status_code=201, summary="Create a user (409 when the name is taken)")
def create_user(body: UserCreate, admin: AdminUser, access: Access) -> UserPublic:
    try:
        return access.users.create(
            body.name, body.role, body.password, by=admin.name, must_change_password=body.must_change_password
        )
    except UserExists as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


@router.patch("/{name}", summary="Change a user's role and/or password; their sessions end")
def update_user(name: UserName, body: UserUpdate, admin: AdminUser, access: Access) -> UserPublic:
    try:
        updated = access.users.update(
            name, body.role, body.password, by=admin.name, must_change_password=body.must_change_password
        )
    except UserNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except LastAdmin as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    access.user_changed(name)
    return updated


@router.delete("/{name}", status_code=204, summary="Delete a user; their sessions end (409 for the last admin)")
def delete_user(name: UserName, admin: AdminUser, access: Access) -> Response:
    try:
        access.users.delete(name, by=admin.name)
    except UserNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except LastAdmin as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    access.user_changed(name)
    return Response(status_code=204)
