"""Migrations upgrade an empty database to head on SQLite and on a real PostgreSQL server.

PostgreSQL: the shared `postgres_url` fixture (tests/conftest.py): `PAINWATCH_TEST_POSTGRES_URL` when set, else a
throwaway cluster (tests/support/postgres.py); skipped with the reason when neither works, a failure under CI=true.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from service.aggregation import Scale
from service.alerts import AlertEngine, AlertParams, Reading
from service.alerts.snapshots import load_snapshot
from service.clock import Instant
from service.store.database import MIGRATIONS_DIR, Store, create_db_engine, table_columns, upgrade
from service.store.models import SnapshotRow
from tests.support.postgres import ThrowawayPostgres

EXPECTED = {
    "beds": {"id", "label", "scale", "paused_until", "pause_reason", "created_at"},
    "alerts": {"id", "bed_id", "kind", "priority", "status", "opened_at", "closed_at", "verdict", "note"},
    "alert_events": {"id", "alert_id", "bed_id", "ts", "type", "user", "details"},
    "score_trend": {"bed_id", "ts", "state", "estimated_score", "face_visible_share", "low_evidence"},
    "users": {"id", "name", "role", "password_hash", "created_at", "must_change_password"},
    "audit_log": {"id", "ts", "who", "action", "details"},
    "snapshots": {"alert_id", "bed_id", "group_id", "ts", "final", "probability", "crop_path", "trace_path"},
    "sessions": {"token_hash", "user_name", "created_at", "last_seen_at", "expires_at"},
}


def check_schema_and_round_trip(store: Store) -> None:
    columns = table_columns(store.engine)
    for table, expected in EXPECTED.items():
        assert expected <= columns[table], (table, expected - columns[table])
    with store.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == head_revision() and int(version) >= 5  # 0005 adds users.must_change_password
    store.ensure_beds([("b1", "Bed 1", "DAN")])
    engine = AlertEngine({"b1": (Scale.DAN, AlertParams(open_after_s=0))}, Instant.at(100.0))
    change = engine.observe(Reading("b1", Instant.at(100.0), "ok", 4, False))[0]
    with store.sessions.begin() as session:
        store.save_change(session, change.event, change.alert)
    assert [a.id for a in store.active_alerts()] == [change.alert.id]  # type: ignore[union-attr]
    alert, events = store.get_alert(change.alert.id)  # type: ignore[arg-type,misc,union-attr]
    assert alert.kind.value == "pain_episode" and [e.type.value for e in events] == ["opened"]
    assert events[0].details == {"priority": "medium"}
    check_snapshot_round_trip(store, change.alert.id)  # type: ignore[union-attr]


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def check_snapshot_round_trip(store: Store, alert_id: str) -> None:
    row = SnapshotRow(
        alert_id=alert_id, bed_id="b1", group_id="bed-b1", ts=101.0, opened_at=100.0, closed_at=None, final=False,
        probability=0.8, pain_probability=0.9, estimated_score=4, detector="mediapipe-short", detector_score=0.7,
        x=1, y=2, side=3, model_name="m", model_version="1", crop_path="snapshots/a/crop.jpg",
        gradcam_path="snapshots/a/gradcam.jpg", cam_path="snapshots/a/gradcam.npy",
        trace_path="snapshots/a/trace.json", updated_at=102.0,
    )  # fmt: skip
    with store.sessions.begin() as session:
        session.merge(row)
    loaded = load_snapshot(store, alert_id)
    assert loaded is not None and (loaded.final, loaded.probability, loaded.side) == (False, 0.8, 3)


def check_users_from_before_0005_keep_their_password(url: str) -> None:
    """A user stored before 0005 (e.g. an admin from PAINWATCH_ADMIN_PASSWORD) is not asked to change it."""
    engine = create_db_engine(url)
    upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (name, role, password_hash, created_at) VALUES ('old-admin', 'admin', 'h', 1.0)")
        )
    upgrade(engine, "head")
    with engine.connect() as connection:
        flag = connection.execute(text("SELECT must_change_password FROM users WHERE name = 'old-admin'")).scalar_one()
    assert flag in (False, 0) and flag is not None
    engine.dispose()


def test_sqlite_upgrade_from_0004_keeps_users(tmp_path: Path) -> None:
    check_users_from_before_0005_keep_their_password(f"sqlite:///{tmp_path / 'old.db'}")


def test_sqlite_upgrade_from_empty_uses_wal(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'sub' / 'painwatch.db'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    check_schema_and_round_trip(store)
    upgrade(store.engine)  # idempotent: a restart upgrades again
    store.close()


def test_postgresql_upgrade_from_empty(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    with engine.begin() as connection:  # start from empty even on a reused server
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    check_users_from_before_0005_keep_their_password(postgres_url)  # 0001..0004, a user, then 0005
    store = Store.open(postgres_url)
    assert store.engine.url.get_backend_name() == "postgresql"
    check_schema_and_round_trip(store)
    store.close()


def test_throwaway_server_keeps_commits_across_an_immediate_stop(postgres_server: ThrowawayPostgres) -> None:
    """The `postgres_server` fixture as durability tests use it: crash the database server, start it again."""
    engine = create_db_engine(postgres_server.url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE crash_probe (n integer)"))
        connection.execute(text("INSERT INTO crash_probe VALUES (1)"))
    pid = postgres_server.pid
    postgres_server.stop("immediate")
    assert not postgres_server.running and postgres_server.pid is None
    postgres_server.start()
    assert postgres_server.running and postgres_server.pid not in (None, pid)
    with engine.connect() as connection:  # pool_pre_ping replaces the connections the crash broke
        assert connection.execute(text("SELECT n FROM crash_probe")).scalar_one() == 1
    engine.dispose()
