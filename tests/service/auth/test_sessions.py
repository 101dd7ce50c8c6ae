"""Sessions on a real SQLite store with an injected clock: expiry (absolute and idle), activity, revocation,
restarts, the role read from the users table, no token in clear, and a short database outage."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from service.auth import AuthUser, Role, UserDirectory, UserNotFound
from service.auth.sessions import GRACE_S, REFRESH_S, TOUCH_EVERY_S, SessionStore
from service.store import Store
from service.store.models import SessionRow, UserRow

HOUR = 3600.0
IDLE = 600.0
NURSE = AuthUser(name="nurse-a", role=Role.NURSE)
ADMIN = AuthUser(name="admin-a", role=Role.ADMIN)


class ManualClock:
    """The clock the SessionStore reads; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path}/p.db")
    add_user(opened, NURSE)
    add_user(opened, ADMIN)
    yield opened
    opened.close()


def add_user(store: Store, user: AuthUser) -> None:
    with store.sessions.begin() as session:
        session.add(UserRow(name=user.name, role=user.role.value, password_hash=None, created_at=time.time()))


def sessions_of(store: Store, clock: ManualClock, lifetime_s: float = 12 * HOUR, idle_s: float = IDLE) -> SessionStore:
    return SessionStore(store, lifetime_s, idle_s, clock=clock)


def rows(store: Store) -> list[SessionRow]:
    with store.sessions() as session:
        return list(session.scalars(select(SessionRow)))


def test_issue_and_resolve_and_forged_tokens(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(NURSE)
    assert sessions.user(token) == NURSE
    assert sessions.user("forged") is None and sessions.user(token + "x") is None
    (row,) = rows(store)
    assert (row.user_name, row.created_at, row.last_seen_at) == ("nurse-a", clock.now, clock.now)
    assert row.expires_at == clock.now + 12 * HOUR


def test_requests_are_served_from_memory_between_database_checks(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(NURSE)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(100):  # 100 requests within REFRESH_S: one database read
        assert sessions.user(token) == NURSE
        clock.advance(REFRESH_S / 200)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    clock.advance(REFRESH_S)
    assert sessions.user(token) == NURSE and len(statements) == 2  # and re-checked after REFRESH_S


def test_the_token_is_never_stored_in_clear(tmp_path: Path, store: Store, clock: ManualClock) -> None:
    token = sessions_of(store, clock).issue(NURSE)
    with store.engine.connect() as connection:
        stored = [tuple(r) for r in connection.execute(text("SELECT * FROM sessions"))]
    assert len(stored) == 1 and hashlib.sha256(token.encode()).hexdigest() in stored[0]
    assert not any(token in str(value) for value in stored[0])
    on_disk = b"".join(path.read_bytes() for path in tmp_path.glob("p.db*"))  # the database and its WAL
    assert on_disk and token.encode() not in on_disk


def test_absolute_expiry_even_while_active(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock, lifetime_s=HOUR, idle_s=10 * HOUR)
    token = sessions.issue(NURSE)
    for _ in range(59):
        clock.advance(60)
        assert sessions.user(token) == NURSE  # active every minute
    clock.advance(59.9)
    assert sessions.user(token) == NURSE
    clock.advance(0.1)
    assert sessions.user(token) is None
    assert sessions_of(store, clock, lifetime_s=HOUR, idle_s=10 * HOUR).user(token) is None  # nor after a restart


def test_idle_expiry(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    idle, busy = sessions.issue(NURSE), sessions.issue(NURSE)
    clock.advance(IDLE - 1)
    assert sessions.user(busy) == NURSE
    clock.advance(1)
    assert sessions.user(idle) is None  # IDLE seconds without activity
    assert sessions.user(busy) == NURSE


def test_activity_extends_the_idle_timeout(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(NURSE)
    for _ in range(5):  # 5 x 500 s: far beyond IDLE in all, never IDLE without activity
        clock.advance(500)
        assert sessions.user(token) == NURSE
    clock.advance(IDLE)
    assert sessions.user(token) is None


def test_activity_is_written_back_lazily_and_survives_a_restart(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(NURSE)
    issued_at = clock.now
    for _ in range(5):
        clock.advance(TOUCH_EVERY_S / 6)
        assert sessions.user(token) == NURSE
    assert [r.last_seen_at for r in rows(store)] == [issued_at]  # not written per request
    clock.advance(TOUCH_EVERY_S / 6)
    assert sessions.user(token) == NURSE
    assert [r.last_seen_at for r in rows(store)] == [issued_at + TOUCH_EVERY_S]
    clock.advance(IDLE - 1)  # IDLE after the issue, but not after the last activity
    assert sessions_of(store, clock).user(token) == NURSE


def test_activity_not_yet_written_back_still_counts_after_a_database_check(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(NURSE)
    clock.advance(TOUCH_EVERY_S - 1)
    assert sessions.user(token) == NURSE  # activity this process knows of; the table still says "issued"
    clock.advance(IDLE - 1)  # IDLE after the stored activity, not after the last one
    assert sessions.user(token) == NURSE


def test_a_new_session_store_on_the_same_database_resolves_old_tokens(tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite:///{tmp_path}/restart.db"
    first = Store.open(url)
    add_user(first, NURSE)
    token = sessions_of(first, clock).issue(NURSE)
    first.close()
    clock.advance(120)
    second = Store.open(url)
    try:
        assert sessions_of(second, clock).user(token) == NURSE
    finally:
        second.close()


def test_revoke_ends_one_session(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token, other = sessions.issue(NURSE), sessions.issue(NURSE)
    assert sessions.user(token) == NURSE  # now cached: the revocation must reach the cache too
    assert sessions.revoke(token) is True
    assert sessions.user(token) is None and sessions.revoke(token) is False
    assert sessions.user(other) == NURSE
    assert len(rows(store)) == 1


def test_revoke_user_ends_all_their_sessions(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    a, b, admin = sessions.issue(NURSE), sessions.issue(NURSE), sessions.issue(ADMIN)
    assert sessions.user(a) == NURSE
    assert sessions.revoke_user("nurse-a") == 2
    assert sessions.user(a) is None and sessions.user(b) is None
    assert sessions.user(admin) == ADMIN
    assert [r.user_name for r in rows(store)] == ["admin-a"]
    assert sessions_of(store, clock).user(b) is None  # gone from the database, not only from this cache


def test_the_role_is_read_from_the_users_table(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(AuthUser(name="nurse-a", role=Role.ADMIN))  # the role claimed at issue is not trusted
    assert sessions.user(token) == NURSE
    UserDirectory(store).update("nurse-a", Role.ENGINEER, None, by="test")  # no revoke_user: only the table changed
    clock.advance(REFRESH_S)  # the cache's bound on how stale a change made elsewhere can be
    assert sessions.user(token) == AuthUser(name="nurse-a", role=Role.ENGINEER)


def test_a_deleted_user_has_no_session_and_gets_none(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock)
    token = sessions.issue(NURSE)
    assert sessions.user(token) == NURSE
    UserDirectory(store).delete("nurse-a", by="test")
    clock.advance(REFRESH_S)
    assert sessions.user(token) is None
    with pytest.raises(UserNotFound):
        sessions.issue(NURSE)
    with pytest.raises(UserNotFound):
        sessions.issue(AuthUser(name="never-existed", role=Role.ADMIN))
    assert len(rows(store)) == 1  # nothing new: the old row goes with revoke_user or its expiry


def test_ended_sessions_are_purged_when_a_new_one_is_issued(store: Store, clock: ManualClock) -> None:
    sessions = sessions_of(store, clock, lifetime_s=HOUR)
    sessions.issue(NURSE)
    clock.advance(IDLE + TOUCH_EVERY_S + 1)  # idle; the purge leaves room for activity not yet written back
    sessions.issue(ADMIN)
    assert [r.user_name for r in rows(store)] == ["admin-a"]


def test_a_short_database_outage_is_bridged_from_memory_then_fails(tmp_path: Path, clock: ManualClock) -> None:
    folder = tmp_path / "db"
    store = Store.open(f"sqlite:///{folder}/p.db")
    add_user(store, NURSE)
    sessions = sessions_of(store, clock)
    known, unchecked = sessions.issue(NURSE), sessions.issue(NURSE)
    assert sessions.user(known) == NURSE
    store.engine.dispose()
    folder.rename(tmp_path / "moved")  # the database can no longer be opened: a real OperationalError
    try:
        clock.advance(GRACE_S - 1)
        assert sessions.user(known) == NURSE  # confirmed less than GRACE_S ago: served from memory
        with pytest.raises(OperationalError):
            sessions.user(unchecked)  # never confirmed: the caller answers 503, not 401
        with pytest.raises(OperationalError):
            sessions.issue(NURSE)  # a login the database did not take fails
        clock.advance(1)
        with pytest.raises(OperationalError):
            sessions.user(known)  # the grace is bounded
    finally:
        (tmp_path / "moved").rename(folder)
    assert sessions.user(known) == NURSE and sessions.user(unchecked) == NURSE
    store.close()
