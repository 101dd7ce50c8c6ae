"""The tables (SQLAlchemy 2 typed ORM). Times are Unix seconds (float): one clock across SQLite and PostgreSQL.

Change a table only together with a new migration under `migrations/versions/`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ACTIVE_NODE_DOWN = "kind = 'node_down' AND status <> 'closed'"


class Base(DeclarativeBase):
    pass


class BedRow(Base):
    __tablename__ = "beds"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    scale: Mapped[str] = mapped_column(String(16))
    paused_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The node that owns (captures and analyses) the bed in a ward of several nodes; null on a single node."""


class NodeRow(Base):
    """A `painwatch serve` process of a ward (migration 0006). Times are the database server's clock, so the
    heartbeat's age is measured on one clock whatever the nodes' clocks say."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    advertise_url: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    instance: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The running process (random per start); null once it stopped cleanly. Two live processes with one id are
    refused."""


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_bed_status", "bed_id", "status"),
        Index("ix_alerts_opened_at", "opened_at"),
        Index(  # one active node_down alert per bed, whichever node raises it first (migration 0006)
            "ux_alerts_active_node_down", "bed_id", unique=True,
            postgresql_where=text(ACTIVE_NODE_DOWN), sqlite_where=text(ACTIVE_NODE_DOWN),
        ),
    )  # fmt: skip

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bed_id: Mapped[str] = mapped_column(String(64), ForeignKey("beds.id"))
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_escalated_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    acknowledged_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlertEventRow(Base):
    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert", "alert_id"), Index("ix_alert_events_ts", "ts"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("alerts.id"), nullable=True)
    bed_id: Mapped[str] = mapped_column(String(64), ForeignKey("beds.id"))
    ts: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(32))
    user: Mapped[str | None] = mapped_column(String(100), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ScoreTrendRow(Base):
    """One point per bed per second: what the dashboard's trend and sparkline draw."""

    __tablename__ = "score_trend"
    __table_args__ = (Index("ix_score_trend_bed_ts", "bed_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bed_id: Mapped[str] = mapped_column(String(64), ForeignKey("beds.id"))
    ts: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    smoothed_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    pain_fraction: Mapped[float | None] = mapped_column(Float, nullable=True)
    estimated_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    face_visible_share: Mapped[float] = mapped_column(Float)
    low_evidence: Mapped[bool]


class UserRow(Base):
    """Filled by the access-control work; password_hash stays null until then."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set for a generated first-start password (or by an admin): until the user sets their own, only
    /api/auth/password, /api/auth/me and logout answer them (migration 0005)."""


class AuditRow(Base):
    """Append-only and hash-chained (service/store/audit.py): rows are added, sealed once, never changed."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_ts", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float)
    who: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SnapshotRow(Base):
    """A pain episode's review snapshot at its peak; file paths are relative to the data directory."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_bed_ts", "bed_id", "ts"), Index("ix_snapshots_updated_at", "updated_at"))

    alert_id: Mapped[str] = mapped_column(String(32), ForeignKey("alerts.id"), primary_key=True)
    bed_id: Mapped[str] = mapped_column(String(64), ForeignKey("beds.id"))
    group_id: Mapped[str] = mapped_column(String(100))
    ts: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    final: Mapped[bool]
    probability: Mapped[float] = mapped_column(Float)
    pain_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    estimated_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detector: Mapped[str] = mapped_column(String(64))
    detector_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    side: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    crop_path: Mapped[str] = mapped_column(String(300))
    gradcam_path: Mapped[str] = mapped_column(String(300))
    cam_path: Mapped[str] = mapped_column(String(300))
    trace_path: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[float] = mapped_column(Float)


class SessionRow(Base):
    """A login session. Only the token's SHA-256 is stored: a copy of the database cannot be replayed as logins."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_name", "user_name"), Index("ix_sessions_expires_at", "expires_at"))

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100))  # no FK: a deleted user's rows go with revoke_user
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
