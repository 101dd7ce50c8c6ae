"""Session tokens: random (secrets.token_urlsafe), stored in the `sessions` table only as their SHA-256.

Logins survive a restart. A session ends at its absolute expiry (`auth.session_hours`), after
`auth.session_idle_minutes` without activity, on logout, or when its user is changed or deleted; a token always
resolves to its user's current role (read from the users table).

Every request does not go to the database: a session confirmed there is trusted from memory for `refresh_s`
(3 s; it bounds how late a change made outside this process is seen), and, while the database is unreachable,
for at most `grace_s` (60 s) after its last confirmation; after that the database error reaches the caller (503).
Activity is written back lazily, at most once per `touch_every_s` (60 s) per session, so after a crash a session
may look up to a minute idler than it was.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.auth.models import AuthUser, Role
from service.auth.users import UserNotFound
from service.store.database import Store
from service.store.models import SessionRow, UserRow

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
InTransaction = Callable[[Session], None]
"""More work for the transaction that creates a session (the login's audit row)."""

REFRESH_S = 3.0
GRACE_S = 60.0
TOUCH_EVERY_S = 60.0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


CSRF_LABEL = b"painwatch csrf token v1"


def csrf_token(token: str) -> str:
    """The session's CSRF token: HMAC-SHA256 of a fixed label keyed with the session token. Only whoever knows the
    session token can compute it (the cookie is HttpOnly), nothing needs storing, and it ends with its session; a
    cookie planted by another site of the same host (cookie tossing) brings no token the planter could know for
    the victim's session."""
    return hmac.new(token.encode("utf-8", "surrogatepass"), CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_valid(token: str, presented: str | None) -> bool:
    """Constant-time comparison of a presented X-CSRF-Token with the session's."""
    return presented is not None and hmac.compare_digest(
        csrf_token(token).encode(), presented.encode("utf-8", "replace")
    )


@dataclass(slots=True)
class _Cached:
    """A session as last confirmed by the database, plus the activity seen since (mutated under the lock)."""

    user: AuthUser
    expires_at: float
    last_seen_at: float
    written_seen_at: float
    checked_at: float


class SessionStore:
    def __init__(
        self,
        store: Store,
        lifetime_s: float,
        idle_s: float,
        clock: Clock = time.time,
        refresh_s: float = REFRESH_S,
        grace_s: float = GRACE_S,
        touch_every_s: float = TOUCH_EVERY_S,
    ) -> None:
        self.store = store
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.refresh_s = refresh_s
        self.grace_s = grace_s
        self.touch_every_s = touch_every_s
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._revocations = 0  # bumped by every revoke: a lookup that raced one is not cached

    def issue(self, user: AuthUser, also: InTransaction | None = None) -> str:
        """A new token for an existing user, committed (with `also`) before it is returned: a login the database
        did not take fails (the SQLAlchemy error propagates) rather than handing out a token that would not last."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self.store.sessions.begin() as session:
            if session.scalar(select(UserRow.id).where(UserRow.name == user.name)) is None:
                raise UserNotFound(f"unknown user {user.name!r}: sessions belong to users in the users table")
            self._purge(session, now)
            session.add(SessionRow(token_hash=digest(token), user_name=user.name, created_at=now, last_seen_at=now,
                                   expires_at=now + self.lifetime_s))  # fmt: skip
            if also is not None:
                also(session)
        return token

    def user(self, token: str) -> AuthUser | None:
        """The token's user with their current role, or None; the lookup counts as activity."""
        key = digest(token)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            revocations = self._revocations
        if cached is not None and now - cached.checked_at < self.refresh_s:
            return self._use(key, cached, now)
        try:
            fresh = self._load(key, now)
        except SQLAlchemyError:
            if cached is None or now - cached.checked_at >= self.grace_s:
                raise
            age_s = now - cached.checked_at
            logger.warning("store unavailable: serving a session confirmed %.0f s ago from memory", age_s)
            return self._use(key, cached, now)
        if fresh is None:
            with self._lock:
                self._cache.pop(key, None)
            return None
        if cached is not None:  # activity seen here but not yet written back
            fresh.last_seen_at = max(fresh.last_seen_at, cached.last_seen_at)
        with self._lock:
            if revocations == self._revocations:
                self._cache[key] = fresh
        return self._use(key, fresh, now)

    def revoke(self, token: str) -> bool:
        key = digest(token)
        try:
            with self.store.sessions.begin() as session:
                result = session.execute(delete(SessionRow).where(SessionRow.token_hash == key))
        finally:
            with self._lock:
                self._revocations += 1
                self._cache.pop(key, None)
        return _rowcount(result) > 0

    def revoke_user(self, name: str, keep: str | None = None) -> int:
        """End every session of a user (deleted, role or password changed), except the one of token `keep` (the
        user's own password change); how many ended. The kept session is re-read from the database at its next use."""
        query = delete(SessionRow).where(SessionRow.user_name == name)
        if keep is not None:
            query = query.where(SessionRow.token_hash != digest(keep))
        try:
            with self.store.sessions.begin() as session:
                result = session.execute(query)
        finally:
            with self._lock:
                self._revocations += 1
                for key in [k for k, c in self._cache.items() if c.user.name == name]:
                    del self._cache[key]
        return _rowcount(result)

    def _load(self, key: str, now: float) -> _Cached | None:
        query = (
            select(SessionRow, UserRow.role, UserRow.must_change_password)
            .join(UserRow, UserRow.name == SessionRow.user_name)
            .where(SessionRow.token_hash == key)
        )
        with self.store.sessions() as session:
            found = session.execute(query).first()
        if found is None:
            return None
        row, role, must_change = found
        user = AuthUser(name=row.user_name, role=Role(role), must_change_password=bool(must_change))
        return _Cached(user, row.expires_at, row.last_seen_at, row.last_seen_at, checked_at=now)

    def _use(self, key: str, cached: _Cached, now: float) -> AuthUser | None:
        """Check the expiries, record the activity, and write it back when the stored one is getting old."""
        with self._lock:
            if self._ended(cached, now):
                self._cache.pop(key, None)
                return None
            cached.last_seen_at = max(cached.last_seen_at, now)
            write_back = now - cached.written_seen_at >= self.touch_every_s
            if write_back:
                cached.written_seen_at = now  # also on failure: retried a minute later, not on every request
        if write_back:
            self._touch(key, now)
        return cached.user

    def _touch(self, key: str, now: float) -> None:
        """Best effort: a failed write only makes the session look idler after a restart."""
        try:
            with self.store.sessions.begin() as session:
                session.execute(
                    update(SessionRow)
                    .where(SessionRow.token_hash == key, SessionRow.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        except SQLAlchemyError as exc:
            logger.warning("could not record session activity (%s)", type(exc).__name__)

    def _purge(self, session: Session, now: float) -> None:
        """Delete ended sessions; the idle test leaves room for activity not yet written back."""
        idle_before = now - self.idle_s - self.touch_every_s
        session.execute(
            delete(SessionRow).where(or_(SessionRow.expires_at <= now, SessionRow.last_seen_at < idle_before))
        )
        with self._lock:
            for key in [k for k, c in self._cache.items() if self._ended(c, now)]:
                del self._cache[key]

    def _ended(self, cached: _Cached, now: float) -> bool:
        return now >= cached.expires_at or now - cached.last_seen_at >= self.idle_s


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
