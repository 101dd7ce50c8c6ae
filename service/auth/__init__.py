"""Access control: users with roles, Argon2 passwords, session tokens kept in the store (hashed), login rate
limiting, audit."""

from service.auth.access import AccessControl, LoginBlocked, LoginFailed, WrongPassword
from service.auth.models import AuthUser, Role
from service.auth.users import UserDirectory, UserExists, UserNotFound

__all__ = [
    "AccessControl",
    "AuthUser",
    "LoginBlocked",
    "LoginFailed",
    "Role",
    "UserDirectory",
    "UserExists",
    "UserNotFound",
    "WrongPassword",
]
