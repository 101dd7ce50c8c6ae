"""Alerts: list with filters, one alert with its events, acknowledge with a verdict (recorded as the logged-in user)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from service.alerts.center import AlertNotFound
from service.alerts.engine import AlertError
from service.alerts.models import Alert, AlertEvent, AlertStatus, Verdict
from service.api.deps import NurseUser, RequireRole
from service.api.routes.beds import forwarded
from service.api.state import ServiceState, get_state
from service.auth import Role

router = APIRouter(prefix="/api/alerts", tags=["alerts"], dependencies=[RequireRole(Role.NURSE)])


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict = Field(description="pain_confirmed | not_pain | unsure.")
    note: str | None = Field(default=None, max_length=2000, description="Free text (no patient identifiers).")


@router.get("", summary="Alerts, newest first (filters: bed, status, since = updated at or after, Unix s)")
def list_alerts(
    state: Annotated[ServiceState, Depends(get_state)],
    bed: str | None = None,
    status: AlertStatus | None = None,
    since: float | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[Alert]:
    store = state.alert_center().store
    return store.list_alerts(bed, status.value if status else None, since, limit)


class AlertDetail(BaseModel):
    alert: Alert
    events: list[AlertEvent] = Field(description="Every event of the alert, oldest first.")


@router.get("/{alert_id}", summary="One alert with its events")
def get_alert(alert_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> AlertDetail:
    found = state.alert_center().store.get_alert(alert_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"unknown alert {alert_id!r}")
    alert, events = found
    return AlertDetail(alert=alert, events=events)


@router.post(
    "/{alert_id}/ack",
    summary="Acknowledge with a verdict and a note: stored before the answer (409 when already acknowledged, "
    "503 when the database is unavailable: nothing was changed, try again)",
)
async def acknowledge(
    alert_id: str, request: AckRequest, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser
) -> Alert:
    center = state.alert_center()
    if state.ward is not None:  # another node's bed: applied by its owning node's alert engine, once
        ward = state.ward
        remote = await forwarded(lambda: ward.acknowledge_remote(alert_id, user.name, request.verdict, request.note))
        if remote is not None:
            return remote
    try:  # in a thread: the database write must not block the event loop
        return await asyncio.to_thread(center.acknowledge, alert_id, user.name, request.verdict, request.note)
    except AlertNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except AlertError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
