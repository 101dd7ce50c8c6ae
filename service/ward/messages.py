"""What the nodes of a ward tell each other over PostgreSQL NOTIFY (one channel, JSON, at most 8000 bytes each).

Every message names its `origin` node; a node ignores its own. Commands name their `target` (the bed's owning
node), which alone applies them, once, and answers with a `reply` to the origin.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from service.alerts.models import Alert, AlertEventMessage, BedAlertState, Verdict
from service.pipeline.messages import BedSummary

CHANNEL = "painwatch_ward"
MAX_PAYLOAD_BYTES = 7900
"""PostgreSQL refuses NOTIFY payloads of 8000 bytes or more."""


class _Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    origin: str = Field(description="The node that sent it.")


class BedSummaryNote(_Note):
    """One bed's summary, sent by its owning node at the summary rate (2 Hz)."""

    type: Literal["bed"] = "bed"
    summary: BedSummary


class AlertEventNote(_Note):
    """An alert event that happened on the origin node (its engine, a nurse's action, a node_down alert)."""

    type: Literal["alert"] = "alert"
    change: AlertEventMessage


class CommandNote(_Note):
    """A nurse's action on a remote bed, for its owning node's alert engine."""

    type: Literal["command"] = "command"
    id: str = Field(description="Matches the reply.")
    target: str = Field(description="The node owning the bed: the only one that applies it.")
    action: Literal["ack", "pause", "resume"]
    user: str = Field(description="The logged-in user on the origin node (already authorised there).")
    bed_id: str
    alert_id: str | None = None
    verdict: Verdict | None = None
    note: str | None = None
    reason: str | None = None
    minutes: float | None = None


class ReplyNote(_Note):
    """The owning node's answer to a command: an HTTP status with the result or the reason."""

    type: Literal["reply"] = "reply"
    id: str
    target: str = Field(description="The node that sent the command.")
    status: int = Field(description="200, or 404 / 409 / 503 as the owning node's API would answer.")
    detail: str | None = None
    alert: Alert | None = None
    bed: BedAlertState | None = None


WardNote = Annotated[BedSummaryNote | AlertEventNote | CommandNote | ReplyNote, Field(discriminator="type")]
NOTE = TypeAdapter(WardNote)
