"""The users table: lookups, and changes committed together with their audit entry (one transaction).

User changes are rare and the caller needs the outcome (409, 404) at once, so they are written here rather than
through the store writer's queue; SQLite's WAL and busy timeout let both writers take turns.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auth.models import AuthUser, Role, UserPublic
from service.auth.passwords import hash_password
from service.store.database import Store
from service.store.models import UserRow

logger = logging.getLogger(__name__)

ADMIN_NAME = "admin"
ADMIN_PASSWORD_ENV = "PAINWATCH_ADMIN_PASSWORD"
INITIAL_PASSWORD_FILE = "initial-admin-password"
"""In the data folder, mode 0600: the generated first-start password (never printed or logged)."""


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
    return UserPublic(
        name=row.name, role=Role(row.role), created_at=row.created_at, must_change_password=row.must_change_password
    )


def auth_user(row: UserRow) -> AuthUser:
    return AuthUser(name=row.name, role=Role(row.role), must_change_password=row.must_change_password)


class UserDirectory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def credentials(self, name: str) -> Credentials | None:
        with self.store.sessions() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                return None
            return Credentials(auth_user(row), row.password_hash)

    def list(self) -> list[UserPublic]:
        with self.store.sessions() as session:
            return [public(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]

    def create(self, name: str, role: Role, password: str, by: str, must_change_password: bool = False) -> UserPublic:
        password_hash = hash_password(password)  # outside the transaction: it takes a while
        with self.store.sessions.begin() as session:
            if self._row(session, name) is not None:
                raise UserExists(f"user {name!r} already exists")
            row = UserRow(name=name, role=role.value, password_hash=password_hash, created_at=time.time(),
                          must_change_password=must_change_password)  # fmt: skip
            session.add(row)
            details: dict[str, object] = {"name": name, "role": role.value}
            if must_change_password:
                details["must_change_password"] = True
            self.store.audit(session, by, "user.create", details, time.time())
            return public(row)

    def update(
        self, name: str, role: Role | None, password: str | None, by: str, must_change_password: bool | None = None
    ) -> UserPublic:
        password_hash = hash_password(password) if password is not None else None
        with self.store.sessions.begin() as session:
            row = self._existing(session, name)
            if role is not None and role != Role.ADMIN and row.role == Role.ADMIN.value:
                self._keep_an_admin(session)
            changed: dict[str, object] = {}
            if role is not None:
                changed["role"] = row.role = role.value
            if password_hash is not None:
                row.password_hash = password_hash
                changed["password"] = "changed"
            if must_change_password is not None:
                changed["must_change_password"] = row.must_change_password = must_change_password
            self.store.audit(session, by, "user.update", {"name": name, **changed}, time.time())
            return public(row)

    def change_own_password(self, name: str, password_hash: str, details: dict[str, object]) -> AuthUser:
        """The user's own new password (already hashed): stored, the change-required flag cleared, audited."""
        with self.store.sessions.begin() as session:
            row = self._existing(session, name)
            row.password_hash = password_hash
            row.must_change_password = False
            self.store.audit(session, name, "user.password_change", {"name": name, **details}, time.time())
            return auth_user(row)

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

    def ensure_admin(self, data_dir: Path) -> Path | None:
        """First start: with no admin, create `admin`.

        With PAINWATCH_ADMIN_PASSWORD that is the password (deployments and tests), to be kept. Otherwise a random
        one is written to `data_dir/initial-admin-password` (mode 0600, atomic) before the user is committed, and
        the account must change it at its first login (`must_change_password`); the password is never printed or
        logged (console and service logs end up in journald or docker logs). Returns the file when one was written.
        """
        with self.store.sessions() as session:
            if session.scalar(select(func.count()).where(UserRow.role == Role.ADMIN.value)):
                return None
        from_env = os.environ.get(ADMIN_PASSWORD_ENV)
        password = from_env or secrets.token_urlsafe(12)
        password_file = None
        if not from_env:
            password_file = Path(data_dir) / INITIAL_PASSWORD_FILE
            write_private_file(password_file, initial_password_text(password))
        password_hash = hash_password(password)
        must_change = not from_env
        with self.store.sessions.begin() as session:
            row = self._row(session, ADMIN_NAME)
            if row is None:
                session.add(UserRow(name=ADMIN_NAME, role=Role.ADMIN.value, password_hash=password_hash,
                                    created_at=time.time(), must_change_password=must_change))  # fmt: skip
            else:  # a user called admin exists without the role: it becomes the admin again
                row.role, row.password_hash = Role.ADMIN.value, password_hash
                row.must_change_password = must_change
            source = "environment" if from_env else "random"
            self.store.audit(session, "system", "user.create", {"name": ADMIN_NAME, "role": "admin",
                                                                "password": source}, time.time())  # fmt: skip
        logger.warning("no admin existed: created user %r (password %s)", ADMIN_NAME,
                       f"from {ADMIN_PASSWORD_ENV}" if from_env else f"written to {password_file}, to be changed "
                       "at the first login")  # fmt: skip
        return password_file

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


def initial_password_text(password: str) -> str:
    return (
        f"{password}\n"
        "\n"
        f"painwatch first start: the password of user '{ADMIN_NAME}' (line 1). The first login with it must set a new\n"
        "password (the dashboard asks; API: POST /api/auth/password). painwatch deletes this file once that is done.\n"
    )


def write_private_file(path: Path, text: str) -> None:
    """Write `text` to `path` readable by this OS user only (0600), atomically: a temporary file in the same folder
    (created 0600, never wider), flushed to disk, then renamed over `path`; a crash leaves the old file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
