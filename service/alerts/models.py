"""Alerts, their events and the WebSocket messages that carry them (one model for memory, store and wire).

The JSON Schemas are committed under docs/schemas/ (`python -m service.api.schemas`); bump
`ALERT_SCHEMA_VERSION` whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

ALERT_SCHEMA_VERSION: Final = 1


class AlertKind(StrEnum):
    PAIN_EPISODE = "pain_episode"
    NO_SIGNAL = "no_signal"
    NO_FACE = "no_face"
    MODEL_ERROR = "model_error"
    STALE = "stale"
    """No analysis result at all: the bed's worker died or hangs (the supervisor restarts it)."""
    NODE_DOWN = "node_down"
    """Ward of several nodes: the node owning the bed stopped its heartbeat; raised once by a surviving node."""


TECHNICAL_KINDS: Final = (AlertKind.NO_SIGNAL, AlertKind.NO_FACE, AlertKind.MODEL_ERROR, AlertKind.STALE)


class Priority(StrEnum):
    """IEC 60601-1-8 alarm priorities; technical alerts start low, pain episodes medium."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    def raised(self) -> Priority:
        order = list(Priority)
        return order[min(order.index(self) + 1, len(order) - 1)]

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class Verdict(StrEnum):
    PAIN_CONFIRMED = "pain_confirmed"
    NOT_PAIN = "not_pain"
    UNSURE = "unsure"


class EventType(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    PAUSED = "paused"
    RESUMED = "resumed"
    CLOSED = "closed"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


def new_id() -> str:
    return uuid.uuid4().hex


class Alert(_Wire):
    id: str = Field(default_factory=new_id, description="Alert identifier.")
    bed_id: str = Field(description="Bed identifier from the configuration.")
    kind: AlertKind = Field(
        description="pain_episode, or a technical alert: no_signal | no_face | model_error | stale | node_down."
    )
    priority: Priority = Field(description="low (technical) | medium (pain episode) | high (top score persists).")
    status: AlertStatus = Field(default=AlertStatus.OPEN, description="open | acknowledged | closed.")
    opened_at: float = Field(description="Unix seconds.")
    updated_at: float = Field(description="Time of the last event, Unix seconds.")
    closed_at: float | None = Field(default=None, description="Unix seconds; null while active.")
    last_escalated_at: float | None = Field(default=None, description="Time of the last escalation.")
    peak_score: int | None = Field(default=None, description="Highest estimated score during a pain episode.")
    reason: str = Field(default="", description="Why the alert opened, in words.")
    acknowledged_at: float | None = Field(default=None, description="Unix seconds.")
    acknowledged_by: str | None = Field(default=None, description="Who acknowledged ('anonymous' until login).")
    verdict: Verdict | None = Field(default=None, description="pain_confirmed | not_pain | unsure.")
    note: str | None = Field(default=None, description="The acknowledging nurse's note.")

    @property
    def active(self) -> bool:
        return self.status is not AlertStatus.CLOSED


class AlertEvent(_Wire):
    id: str = Field(default_factory=new_id, description="Event identifier.")
    ts: float = Field(description="Unix seconds.")
    type: EventType = Field(description="opened | escalated | acknowledged | paused | resumed | closed.")
    bed_id: str = Field(description="Bed identifier.")
    alert_id: str | None = Field(default=None, description="The alert; null for a bed's paused/resumed.")
    user: str | None = Field(default=None, description="Who caused it (acknowledge, pause, resume); null = system.")
    details: dict[str, Any] = Field(default_factory=dict, description="Event specifics (priorities, reason, note).")


class AlertEventMessage(_Wire):
    """One change, pushed on /ws/alerts, with the alert as it is after the change (null for paused/resumed)."""

    schema_version: Literal[1] = Field(default=ALERT_SCHEMA_VERSION, description="Wire format version.")
    type: Literal["alert_event"] = Field(default="alert_event", description="Message kind.")
    event: AlertEvent
    alert: Alert | None = None


class BedAlertState(_Wire):
    bed_id: str
    paused_until: float | None = Field(default=None, description="Alerts paused until (Unix seconds); null = live.")
    pause_reason: str | None = None


class AlertsSnapshotMessage(_Wire):
    """First message on /ws/alerts: every active alert and each bed's pause state."""

    schema_version: Literal[1] = Field(default=ALERT_SCHEMA_VERSION, description="Wire format version.")
    type: Literal["alerts_snapshot"] = Field(default="alerts_snapshot", description="Message kind.")
    ts: float
    alerts: list[Alert]
    beds: list[BedAlertState]
