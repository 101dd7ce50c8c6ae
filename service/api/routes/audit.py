"""The audit trail for admins: who did what and when, with filters (read-only: the trail is append-only)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.api.deps import RequireRole
from service.api.state import ServiceState, get_state
from service.auth import Role
from service.store.database import Store
from service.store.models import AuditRow

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[RequireRole(Role.ADMIN)])


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Row number (increasing).")
    ts: float = Field(description="Unix seconds.")
    who: str = Field(description="User name, or 'system'.")
    action: str = Field(description="e.g. auth.login, alert.acknowledge, bed.pause, snapshot.view, user.delete.")
    details: dict[str, Any] = Field(description="What exactly (never a password).")
    hash: str | None = Field(description="Its link in the hash chain; null for the newest second, not sealed yet.")


def _query(
    store: Store, who: str | None, action: str | None, since: float | None, until: float | None, limit: int
) -> list[AuditEntryPublic]:
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if who is not None:
        query = query.where(AuditRow.who == who)
    if action is not None:
        query = query.where(AuditRow.action.startswith(action, autoescape=True))
    if since is not None:
        query = query.where(AuditRow.ts >= since)
    if until is not None:
        query = query.where(AuditRow.ts < until)
    with store.sessions() as session:
        return [AuditEntryPublic.model_validate(row) for row in session.scalars(query)]


@router.get("", summary="Audit entries, newest first (filters: user, action prefix, time range in Unix s)")
async def list_audit(
    state: Annotated[ServiceState, Depends(get_state)],
    who: Annotated[str | None, Query(max_length=100, description="Exactly this user (or 'system').")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Actions starting with this, e.g. 'auth.'.")] = None,
    since: Annotated[float | None, Query(description="At or after (Unix s).")] = None,
    until: Annotated[float | None, Query(description="Before (Unix s).")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditEntryPublic]:
    return await asyncio.to_thread(_query, state.alerts.store, who, action, since, until, limit)
