"""Real users for in-process services (sessions belong to users in the store)."""

from __future__ import annotations

from service.auth import AuthUser, Role
from service.serve import Service


def add_user(service: Service, name: str, role: Role) -> AuthUser:
    """Create `name` with `role` (password `<name>-password-1`) and return who it is."""
    service.access.users.create(name, role, f"{name}-password-1", by="test")
    return AuthUser(name=name, role=role)
