"""Logging in and out, and who a token belongs to; every login attempt goes to the audit log.

A successful login's audit row is committed in the same transaction as its session row (no token without its
audit entry, and no audit entry for a login the database refused); the other entries go through the store writer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from service.auth.models import AuthUser
from service.auth.passwords import hash_password, needs_rehash, verify_password
from service.auth.ratelimit import LoginThrottle
from service.auth.sessions import SessionStore
from service.auth.users import UserDirectory, UserNotFound
from service.config.settings import AuthConfig
from service.store.writer import AuditEntry, StoreWriter

logger = logging.getLogger(__name__)


class LoginFailed(Exception):
    """Unknown user or wrong password (the caller is not told which)."""


class WrongPassword(Exception):
    """The current password given for a password change is wrong."""


class LoginBlocked(Exception):
    def __init__(self, retry_after_s: int, why: str = "too many login attempts") -> None:
        super().__init__(f"{why}; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


_T = TypeVar("_T")


class AccessControl:
    def __init__(
        self, users: UserDirectory, writer: StoreWriter, config: AuthConfig, initial_password_file: Path | None = None
    ) -> None:
        self.users = users
        self.initial_password_file = initial_password_file
        """`ensure_admin`'s file: removed once the password in it has been changed (it then opens nothing)."""
        self.writer = writer
        self.config = config
        self.sessions = SessionStore(users.store, config.session_hours * 3600.0, config.session_idle_minutes * 60.0)
        self.throttle = LoginThrottle(config)
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-hash")
        """Argon2 runs here, one hash at a time: a login flood costs at most one core, never the API's pool."""
        self._hash_waiting = 0
        self._hash_lock = threading.Lock()

    async def login(self, name: str, password: str, client: str) -> tuple[str, AuthUser]:
        """A new session token for the user. LoginBlocked (429) when the client or the service is over its rate,
        or the hashing queue is full; an account with recent failures waits a growing delay first."""
        wait_s = self.throttle.admit(client)
        if wait_s:
            self.audit(name, "auth.login_blocked", {"client": client})
            raise LoginBlocked(wait_s)
        delay_s = self.throttle.delay_for(name)
        if delay_s:
            await asyncio.sleep(delay_s)  # holds no thread
        credentials = await asyncio.to_thread(self.users.credentials, name)
        stored_hash = credentials.password_hash if credentials else None
        if not await self._hash_thread(verify_password, stored_hash, password) or credentials is None:
            self.throttle.failed(name)
            self.audit(name, "auth.login_failed", {"client": client})
            logger.info("failed login from %s", client)
            raise LoginFailed("unknown user or wrong password")
        self.throttle.succeeded(name)
        if credentials.password_hash is not None and needs_rehash(credentials.password_hash):
            new_hash = await self._hash_thread(hash_password, password)
            await asyncio.to_thread(self.users.set_password_hash, name, new_hash)
        details = {"client": client, "role": credentials.user.role.value}
        try:
            token = await asyncio.to_thread(
                self.sessions.issue, credentials.user, lambda s: self._audit_in(s, name, "auth.login", details)
            )
        except UserNotFound as exc:  # deleted between the password check and now
            raise LoginFailed("unknown user or wrong password") from exc
        return token, credentials.user

    async def change_password(self, user: AuthUser, token: str, current: str, new: str, client: str) -> AuthUser:
        """The user's own new password. The current one is checked like a login (rate limits, Argon2 on the hashing
        thread, a wrong one counts as a failure of the account); the new hash, the cleared change-required flag and
        the audit row are one transaction; then every other session of the user ends (this one stays)."""
        wait_s = self.throttle.admit(client)
        if wait_s:
            self.audit(user.name, "auth.password_change_blocked", {"client": client})
            raise LoginBlocked(wait_s)
        delay_s = self.throttle.delay_for(user.name)
        if delay_s:
            await asyncio.sleep(delay_s)
        credentials = await asyncio.to_thread(self.users.credentials, user.name)
        stored_hash = credentials.password_hash if credentials else None
        if not await self._hash_thread(verify_password, stored_hash, current) or credentials is None:
            self.throttle.failed(user.name)
            self.audit(user.name, "auth.password_change_failed", {"client": client})
            raise WrongPassword("the current password is wrong")
        self.throttle.succeeded(user.name)
        new_hash = await self._hash_thread(hash_password, new)
        updated = await asyncio.to_thread(self.users.change_own_password, user.name, new_hash, {"client": client})
        ended = await asyncio.to_thread(self.sessions.revoke_user, user.name, token)
        if ended:
            logger.info("password changed: ended %d other session(s) of the user", ended)
        self._remove_spent_initial_password(user.name, current)
        return updated

    def _remove_spent_initial_password(self, name: str, old_password: str) -> None:
        """Delete the first start's password file once the password it holds was changed (only then: a file
        written by a later reset holds a password still in use)."""
        path = self.initial_password_file
        if path is None or not path.is_file():
            return
        try:
            spent = path.read_text(encoding="utf-8").splitlines()[:1] == [old_password]
            if spent:
                path.unlink()
        except OSError as exc:
            logger.warning("could not remove %s after the password change: %s", path, exc)
            return
        if spent:
            self.audit(name, "auth.initial_password_file_removed", {"path": str(path)})

    async def _hash_thread(self, work: Callable[..., _T], *args: Any) -> _T:
        with self._hash_lock:
            if self._hash_waiting >= self.config.login_queue:
                raise LoginBlocked(1, "the login service is busy")
            self._hash_waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._hashing, work, *args)
        finally:
            with self._hash_lock:
                self._hash_waiting -= 1

    def authenticate(self, token: str | None) -> AuthUser | None:
        return self.sessions.user(token) if token else None

    def logout(self, token: str, user: AuthUser) -> None:
        self.sessions.revoke(token)
        self.audit(user.name, "auth.logout", {})

    def user_changed(self, name: str) -> None:
        """A deleted user, or a new role or password: their sessions end now."""
        ended = self.sessions.revoke_user(name)
        if ended:
            logger.info("ended %d session(s) of a changed user", ended)

    def audit(self, who: str, action: str, details: dict[str, Any]) -> None:
        self.writer.put(AuditEntry(time.time(), who[:100], action, details))

    def _audit_in(self, session: Session, who: str, action: str, details: dict[str, Any]) -> None:
        self.users.store.audit(session, who[:100], action, details, time.time())
