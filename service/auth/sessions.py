"""Session tokens: random (secrets.token_urlsafe), kept in memory only as their SHA-256, with an expiry.

Tokens die when the service restarts (everyone logs in again); that is accepted for a bedside service.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.auth.models import AuthUser

Clock = Callable[[], float]


@dataclass(frozen=True)
class Session:
    user: AuthUser
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    def __init__(self, lifetime_s: float, clock: Clock = time.time) -> None:
        self.lifetime_s = lifetime_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def issue(self, user: AuthUser) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            self._sessions[_digest(token)] = Session(user, self._clock() + self.lifetime_s)
        return token

    def user(self, token: str) -> AuthUser | None:
        with self._lock:
            session = self._sessions.get(_digest(token))
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[_digest(token)]
                return None
            return session.user

    def revoke(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(_digest(token), None) is not None

    def revoke_user(self, name: str) -> int:
        """End every session of a user (deleted, role or password changed)."""
        with self._lock:
            gone = [key for key, session in self._sessions.items() if session.user.name == name]
            for key in gone:
                del self._sessions[key]
        return len(gone)

    def __len__(self) -> int:
        return len(self._sessions)

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]
