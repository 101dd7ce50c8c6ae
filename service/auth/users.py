"""The users table: lookups, and changes committed together with their audit entry (one transaction).

User changes are rare and the caller needs the outcome (409, 404) at once, so they are written here rather than
through the store writer's queue; SQLite's WAL and busy timeout let both writers take turns.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auth.models import AuthUser, Role, UserPublic
from service.auth.passwords import hash_password
from service.store.database import Store
from service.store.models import UserRow

logger = logging.getLogger(__name__)

ADMIN_NAME = "admin"
ADMIN_PASSWORD_ENV = "PAINWATCH_ADMIN_PASSWORD"


class UserNotFound(LookupError):
    pass


class UserExists(ValueError):
    pass


class LastAdmin(ValueError):
    """The change would leave no admin (nobody could manage users any more)."""


@dataclass(frozen=True)
class Credentials:
    user: AuthUser
    password_hash: str | None


def public(row: UserRow) -> UserPublic:
    return UserPublic(name=row.name, role=Role(row.role), created_at=row.created_at)


class UserDirectory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def credentials(self, name: str) -> Credentials | None:
        with self.store.sessions() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                return None
            return Credentials(AuthUser(name=row.name, role=Role(row.role)), row.password_hash)

    def list(self) -> list[UserPublic]:
        with self.store.sessions() as session:
            return [public(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]

    def create(self, name: str, role: Role, password: str, by: str) -> UserPublic:
        password_hash = hash_password(password)  # outside the transaction: it takes a while
        with self.store.sessions.begin() as session:
            if self._row(session, name) is not None:
                raise UserExists(f"user {name!r} already exists")
            row = UserRow(name=name, role=role.value, password_hash=password_hash, created_at=time.time())
            session.add(row)
            self.store.audit(session, by, "user.create", {"name": name, "role": role.value}, time.time())
            return public(row)

    def update(self, name: str, role: Role | None, password: str | None, by: str) -> UserPublic:
        password_hash = hash_password(password) if password is not None else None
        with self.store.sessions.begin() as session:
            row = self._existing(session, name)
            if role is not None and role != Role.ADMIN and row.role == Role.ADMIN.value:
                self._keep_an_admin(session)
            changed = {}
            if role is not None:
                changed["role"] = row.role = role.value
            if password_hash is not None:
                row.password_hash = password_hash
                changed["password"] = "changed"
            self.store.audit(session, by, "user.update", {"name": name, **changed}, time.time())
            return public(row)

    def delete(self, name: str, by: str) -> None:
        with self.store.sessions.begin() as session:
            row = self._existing(session, name)
            if row.role == Role.ADMIN.value:
                self._keep_an_admin(session)
            session.delete(row)
            self.store.audit(session, by, "user.delete", {"name": name, "role": row.role}, time.time())

    def set_password_hash(self, name: str, password_hash: str) -> None:
        """Upgrade a hash made with older Argon2 parameters (at login; not a user change, not audited)."""
        with self.store.sessions.begin() as session:
            self._existing(session, name).password_hash = password_hash

    def ensure_admin(self) -> str | None:
        """First start: with no admin, create `admin` (password from the environment, else a random one).

        Returns the random password (the CLI prints it once to the console), None otherwise.
        """
        with self.store.sessions() as session:
            if session.scalar(select(func.count()).where(UserRow.role == Role.ADMIN.value)):
                return None
        from_env = os.environ.get(ADMIN_PASSWORD_ENV)
        password = from_env or secrets.token_urlsafe(12)
        password_hash = hash_password(password)
        with self.store.sessions.begin() as session:
            row = self._row(session, ADMIN_NAME)
            if row is None:
                session.add(UserRow(name=ADMIN_NAME, role=Role.ADMIN.value, password_hash=password_hash,
                                    created_at=time.time()))  # fmt: skip
            else:  # a user called admin exists without the role: it becomes the admin again
                row.role, row.password_hash = Role.ADMIN.value, password_hash
            source = "environment" if from_env else "random"
            self.store.audit(session, "system", "user.create", {"name": ADMIN_NAME, "role": "admin",
                                                                "password": source}, time.time())  # fmt: skip
        logger.warning("no admin existed: created user %r (password %s)", ADMIN_NAME,
                       f"from {ADMIN_PASSWORD_ENV}" if from_env else "printed once on the console")  # fmt: skip
        return None if from_env else password

    @staticmethod
    def _row(session: Session, name: str) -> UserRow | None:
        return session.scalar(select(UserRow).where(UserRow.name == name))

    def _existing(self, session: Session, name: str) -> UserRow:
        row = self._row(session, name)
        if row is None:
            raise UserNotFound(f"unknown user {name!r}")
        return row

    @staticmethod
    def _keep_an_admin(session: Session) -> None:
        if (session.scalar(select(func.count()).where(UserRow.role == Role.ADMIN.value)) or 0) <= 1:
            raise LastAdmin("refused: this would leave no admin; make another user admin first")
