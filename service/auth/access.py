"""Logging in and out, and who a token belongs to; every login attempt goes to the audit log.

A successful login's audit row is committed in the same transaction as its session row (no token without its
audit entry, and no audit entry for a login the database refused); the other entries go through the store writer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.orm import Session

from service.auth.models import AuthUser
from service.auth.passwords import hash_password, needs_rehash, verify_password
from service.auth.ratelimit import LoginRateLimiter
from service.auth.sessions import SessionStore
from service.auth.users import UserDirectory, UserNotFound
from service.config.settings import AuthConfig
from service.store.writer import AuditEntry, StoreWriter

logger = logging.getLogger(__name__)


class LoginFailed(Exception):
    """Unknown user or wrong password (the caller is not told which)."""


class LoginBlocked(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class AccessControl:
    def __init__(self, users: UserDirectory, writer: StoreWriter, config: AuthConfig) -> None:
        self.users = users
        self.writer = writer
        self.config = config
        self.sessions = SessionStore(users.store, config.session_hours * 3600.0, config.session_idle_minutes * 60.0)
        self.limiter = LoginRateLimiter(config.login_max_failures, config.login_window_s)

    def login(self, name: str, password: str, client: str) -> tuple[str, AuthUser]:
        """A new session token for the user; LoginBlocked when this name+client failed too often."""
        key = (name, client)
        wait_s = self.limiter.retry_after(key)
        if wait_s:
            self.audit(name, "auth.login_blocked", {"client": client})
            raise LoginBlocked(wait_s)
        credentials = self.users.credentials(name)
        if not verify_password(credentials.password_hash if credentials else None, password) or credentials is None:
            self.limiter.failed(key)
            self.audit(name, "auth.login_failed", {"client": client})
            logger.info("failed login from %s", client)
            raise LoginFailed("unknown user or wrong password")
        self.limiter.succeeded(key)
        if credentials.password_hash is not None and needs_rehash(credentials.password_hash):
            self.users.set_password_hash(name, hash_password(password))
        details = {"client": client, "role": credentials.user.role.value}
        try:
            token = self.sessions.issue(credentials.user, also=lambda s: self._audit_in(s, name, "auth.login", details))
        except UserNotFound as exc:  # deleted between the password check and now
            raise LoginFailed("unknown user or wrong password") from exc
        return token, credentials.user

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
