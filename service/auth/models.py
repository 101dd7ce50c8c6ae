"""Roles and the people behind a request."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
PASSWORD_MIN = 10
"""Shortest password accepted (user creation, admin changes, a user's own change)."""


class Role(StrEnum):
    """Each role can do everything the ones before it can."""

    NURSE = "nurse"  # view, acknowledge alerts, pause/resume beds
    ENGINEER = "engineer"  # also model reload, feedback export
    ADMIN = "admin"  # also user management

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


class AuthUser(BaseModel):
    """Who is logged in (what /api/auth/me answers)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="User name.")
    role: Role = Field(description="nurse | engineer | admin.")
    must_change_password: bool = Field(
        default=False,
        description="The password was generated (first start) or set by an admin to be replaced: until "
        "POST /api/auth/password, every route but that one, /api/auth/me and logout answers 403.",
    )


class UserPublic(BaseModel):
    name: str = Field(description="User name.")
    role: Role = Field(description="nurse | engineer | admin.")
    created_at: float = Field(description="Unix seconds.")
    must_change_password: bool = Field(default=False, description="Must set a new password at the next login.")
