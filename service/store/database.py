"""The database: open it (SQLite file with WAL by default, PostgreSQL by URL), upgrade it, read and write it.

Writes come from one thread (`StoreWriter`); reads from the API. Every alert event is committed on its own
transaction boundary by the writer, so an opened alert survives `kill -9`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, case, create_engine, delete, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.models import Alert, AlertEvent, AlertEventMessage, AlertStatus, EventType
from service.store.models import AlertEventRow, AlertRow, AuditRow, BedRow, ScoreTrendRow

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DB_FILE_NAME = "painwatch.db"
CONNECT_TIMEOUT_S = 3
"""A database server that does not answer fails a request within seconds (503), never hangs it."""

_FIELDS_BY_EVENT: dict[EventType, tuple[str, ...]] = {
    EventType.ESCALATED: ("priority", "last_escalated_at", "updated_at", "peak_score"),
    EventType.CLOSED: ("status", "closed_at", "updated_at", "peak_score"),
}
"""Alert columns each engine event changes (acknowledgements are committed by `Store.acknowledge`)."""


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir) / DB_FILE_NAME}"


def create_db_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL (readers never block the writer) and full sync (commits survive a crash)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the packaged Alembic migrations up to `revision` (the service does this at every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def table_columns(engine: Engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {table: {c["name"] for c in inspector.get_columns(table)} for table in inspector.get_table_names()}


def alert_from_row(row: AlertRow) -> Alert:
    return Alert.model_validate({c: getattr(row, c) for c in Alert.model_fields})


def event_from_row(row: AlertEventRow) -> AlertEvent:
    return AlertEvent.model_validate({c: getattr(row, c) for c in AlertEvent.model_fields})


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        engine = create_db_engine(url)
        upgrade(engine)
        logger.info("store ready (%s)", engine.url.get_backend_name())
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writes (the writer thread) ----------------------------------------------------------------------------
    def ensure_beds(self, beds: Iterable[tuple[str, str, str]]) -> None:
        """(id, label, scale) for every configured bed; existing rows keep their pause state."""
        with self.sessions.begin() as session:
            for bed_id, label, scale in beds:
                row = session.get(BedRow, bed_id)
                if row is None:
                    session.add(BedRow(id=bed_id, label=label, scale=scale, created_at=time.time()))
                else:
                    row.label, row.scale = label, scale

    def save_change(self, session: Session, event_: AlertEvent, alert: Alert | None) -> None:
        """Store one engine change: the event, and on the alert row only the fields that event changes.

        Field by field, never the whole row: a late escalation or close written by the writer thread must not undo
        an acknowledgement committed meanwhile by a request, nor an acknowledgement un-close an alert."""
        if alert is not None:
            self._apply_alert_change(session, event_, alert)
        session.add(AlertEventRow(**event_.model_dump(mode="json")))
        bed = session.get(BedRow, event_.bed_id)
        if bed is not None and event_.type.value in ("paused", "resumed"):
            bed.paused_until = event_.details.get("until") if event_.type.value == "paused" else None
            bed.pause_reason = event_.details.get("reason") if event_.type.value == "paused" else None

    @staticmethod
    def _apply_alert_change(session: Session, event_: AlertEvent, alert: Alert) -> None:
        row = session.get(AlertRow, alert.id)
        if row is None:  # opened (or its opening is still queued): the whole row
            session.add(AlertRow(**alert.model_dump(mode="json")))
            session.flush()
            return
        values = alert.model_dump(mode="json")
        for name in _FIELDS_BY_EVENT.get(event_.type, ()):
            setattr(row, name, values[name])

    def acknowledge(self, change: AlertEventMessage, audit: tuple[str, str, dict[str, Any]]) -> str | None:
        """Commit an acknowledgement with its event and audit row, as one conditional update: the first verdict
        wins. Returns None when stored, else who had already acknowledged (nothing is written then)."""
        alert = change.alert
        assert alert is not None and alert.acknowledged_at is not None
        with self.sessions.begin() as session:
            if session.get(AlertRow, alert.id) is None:  # its opening is still in the writer's queue
                session.add(AlertRow(**alert.model_dump(mode="json")))
                session.flush()
            else:
                result = session.execute(
                    update(AlertRow)
                    .where(AlertRow.id == alert.id, AlertRow.acknowledged_at.is_(None))
                    .values(
                        acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
                        verdict=alert.verdict.value if alert.verdict else None, note=alert.note,
                        updated_at=alert.updated_at,
                        # never reopens a closed alert nor un-closes one
                        status=case((AlertRow.status == AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value),
                                    else_=AlertRow.status),
                    )
                )  # fmt: skip
                if getattr(result, "rowcount", 1) == 0:  # nothing changed: the transaction commits nothing
                    row = session.get(AlertRow, alert.id)
                    return (row.acknowledged_by or "someone") if row is not None else "someone"
            session.add(AlertEventRow(**change.event.model_dump(mode="json")))
            self.audit(session, *audit, change.event.ts)
        return None

    def record_action(self, change: AlertEventMessage, audit: tuple[str, str, dict[str, Any]]) -> None:
        """Commit a nurse's bed action (pause, resume) with its audit row before the API answers."""
        with self.sessions.begin() as session:
            self.save_change(session, change.event, change.alert)
            self.audit(session, *audit, change.event.ts)

    def add_trend(self, session: Session, rows: list[ScoreTrendRow]) -> None:
        session.add_all(rows)

    def audit(self, session: Session, who: str, action: str, details: dict[str, Any], ts: float) -> None:
        session.add(AuditRow(ts=ts, who=who, action=action, details=details))

    def purge_notes(self, closed_before: float) -> int:
        """Remove the free-text notes of alerts closed before `closed_before` (verdicts stay)."""
        with self.sessions.begin() as session:
            result = session.execute(
                update(AlertRow).where(AlertRow.closed_at < closed_before, AlertRow.note.is_not(None)).values(note=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def purge_trend(self, older_than: float) -> int:
        with self.sessions.begin() as session:
            result = session.execute(delete(ScoreTrendRow).where(ScoreTrendRow.ts < older_than))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- reads -------------------------------------------------------------------------------------------------
    def active_alerts(self) -> list[Alert]:
        with self.sessions() as session:
            rows = session.scalars(select(AlertRow).where(AlertRow.status != AlertStatus.CLOSED.value))
            return [alert_from_row(r) for r in rows]

    def pauses(self) -> dict[str, tuple[float, str | None]]:
        with self.sessions() as session:
            rows = session.scalars(select(BedRow).where(BedRow.paused_until.is_not(None)))
            return {r.id: (r.paused_until, r.pause_reason) for r in rows if r.paused_until is not None}

    def list_alerts(
        self, bed_id: str | None = None, status: str | None = None, since: float | None = None, limit: int = 500
    ) -> list[Alert]:
        query = select(AlertRow).order_by(AlertRow.opened_at.desc()).limit(limit)
        if bed_id is not None:
            query = query.where(AlertRow.bed_id == bed_id)
        if status is not None:
            query = query.where(AlertRow.status == status)
        if since is not None:
            query = query.where(AlertRow.updated_at >= since)
        with self.sessions() as session:
            return [alert_from_row(r) for r in session.scalars(query)]

    def get_alert(self, alert_id: str) -> tuple[Alert, list[AlertEvent]] | None:
        with self.sessions() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                return None
            events = session.scalars(
                select(AlertEventRow).where(AlertEventRow.alert_id == alert_id).order_by(AlertEventRow.ts)
            )
            return alert_from_row(row), [event_from_row(e) for e in events]

    def trend(self, bed_id: str, since: float) -> list[ScoreTrendRow]:
        with self.sessions() as session:
            query = select(ScoreTrendRow).where(ScoreTrendRow.bed_id == bed_id, ScoreTrendRow.ts >= since)
            return list(session.scalars(query.order_by(ScoreTrendRow.ts)))

    def audit_entries(self) -> list[AuditRow]:
        with self.sessions() as session:
            return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))
