"""Beds: configuration, latest state and counters; pausing and resuming a bed's alerts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from service.alerts.models import BedAlertState
from service.api.deps import NurseUser, RequireRole
from service.api.state import ServiceState, get_state
from service.auth import Role
from service.pipeline.bed import BedRuntime
from service.pipeline.messages import BedSummary
from service.ward.node import RemoteRefused

router = APIRouter(prefix="/api/beds", tags=["beds"], dependencies=[RequireRole(Role.NURSE)])


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why (e.g. 'procedure: heel lance').")
    minutes: float | None = Field(
        default=None, gt=0, description="Pause length (default and upper limit from the bed's alert settings)."
    )


class SourceReport(BaseModel):
    type: str = Field(description="video | camera | realsense.")
    state: str = Field(description="ok | no_signal.")
    state_reason: str | None = Field(description="Why, in words.")
    frames_captured: int
    frames_skipped: int = Field(description="Frames the analysis skipped to stay live (newest frame first).")
    reopen_count: int


class AnalysisReport(BaseModel):
    frames_analysed: int
    analysed_fps: float = Field(description="Over the last 5 s.")
    face_found_ratio: float | None = Field(description="Share of the last 100 analysed frames with a face.")
    errors: int = Field(description="Frames that could not be analysed, and analysis-thread crashes.")
    max_rate_hz: float | None = Field(description="Configured analysis rate limit; null = as fast as possible.")
    detector: str


class ClientsReport(BaseModel):
    connected: int
    messages_published: int
    messages_dropped: int = Field(description="Dropped for slow WebSocket clients (oldest first).")


class BedReport(BaseModel):
    summary: BedSummary
    source: SourceReport | None = Field(default=None, description="Null for another ward node's bed.")
    analysis: AnalysisReport | None = Field(default=None, description="Null for another ward node's bed.")
    clients: ClientsReport | None = Field(default=None, description="Null for another ward node's bed.")


def bed_report(state: ServiceState, bed: BedRuntime) -> BedReport:
    capture, worker = bed.capture, bed.worker
    return BedReport(
        summary=state.bed_summary(bed),
        source=SourceReport(
            type=bed.config.source.type, state=capture.state, state_reason=capture.state_reason,
            frames_captured=capture.frames_captured, frames_skipped=capture.frames_dropped,
            reopen_count=capture.reopen_count,
        ),
        analysis=AnalysisReport(
            frames_analysed=worker.frames_analysed, analysed_fps=worker.analysed_fps,
            face_found_ratio=worker.face_found_ratio, errors=worker.errors, max_rate_hz=bed.config.analysis_rate_hz,
            detector=bed.config.detector.name,
        ),
        clients=ClientsReport(
            connected=bed.broadcaster.subscriber_count, messages_published=bed.broadcaster.published,
            messages_dropped=bed.broadcaster.dropped_total,
        ),
    )  # fmt: skip


def remote_reports(state: ServiceState) -> list[BedReport]:
    """On a ward node: the other nodes' beds, their summaries as last heard (no local counters)."""
    return [BedReport(summary=s) for s in state.ward.remote_summaries()] if state.ward is not None else []


@router.get("", summary="Every bed's latest state (on a ward node: every bed of the ward)")
def list_beds(state: Annotated[ServiceState, Depends(get_state)]) -> list[BedReport]:
    return [*[bed_report(state, bed) for bed in state.beds.values()], *remote_reports(state)]


@router.get("/{bed_id}", summary="One bed's latest state and counters")
def get_bed(bed_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> BedReport:
    if state.remote_bed(bed_id) is not None:
        found = [r for r in remote_reports(state) if r.summary.bed_id == bed_id]
        if found:
            return found[0]
    return bed_report(state, state.bed(bed_id))


class TrendPoint(BaseModel):
    """One stored 1 Hz point; unknown states carry null scores (a gap, never "no pain")."""

    model_config = ConfigDict(from_attributes=True)  # built straight from the store's ScoreTrendRow

    ts: float = Field(description="Unix time, seconds.")
    state: str = Field(description="Bed state at that second.")
    smoothed_probability: float | None = Field(description="Smoothed pain probability; null when unknown.")
    estimated_score: int | None = Field(description="Estimated facial item of the bed's scale; null when unknown.")
    face_visible_share: float = Field(description="Share of the window with a visible face.")
    low_evidence: bool = Field(description="The score rests on too little face-visible time.")


@router.get("/{bed_id}/trend", summary="The bed's stored 1 Hz score trend (survives restarts and page reloads)")
async def bed_trend(
    bed_id: str,
    state: Annotated[ServiceState, Depends(get_state)],
    minutes: Annotated[float, Query(gt=0, le=1440, description="How far back, in minutes (at most 24 h).")] = 60,
) -> list[TrendPoint]:
    state.require_known(bed_id)  # a ward shares one database: another node's bed's trend is here too
    rows = await asyncio.to_thread(state.alert_center().store.trend, bed_id, time.time() - minutes * 60)
    return [TrendPoint.model_validate(row) for row in rows]


@router.post(
    "/{bed_id}/pause",
    summary="Pause the bed's alerts (scores are still recorded); they resume by themselves. Stored before the "
    "answer (503 when the database is unavailable: nothing was changed)",
)
async def pause_alerts(
    bed_id: str, request: PauseRequest, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser
) -> BedAlertState:
    remote = state.remote_bed(bed_id)
    if remote is not None and state.ward is not None:  # applied by the owning node's alert engine
        ward = state.ward
        return await forwarded(lambda: ward.pause_remote(remote, request.minutes, request.reason, user.name))
    state.bed(bed_id)
    return await asyncio.to_thread(state.alerts.pause, bed_id, request.minutes, request.reason, user.name)


@router.post("/{bed_id}/resume", summary="Resume the bed's alerts now (stored before the answer; 503 as for pause)")
async def resume_alerts(
    bed_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser
) -> BedAlertState:
    remote = state.remote_bed(bed_id)
    if remote is not None and state.ward is not None:
        ward = state.ward
        return await forwarded(lambda: ward.resume_remote(remote, user.name))
    state.bed(bed_id)
    return await asyncio.to_thread(state.alerts.resume, bed_id, user.name)


R = TypeVar("R")


async def forwarded(command: Callable[[], R]) -> R:
    """A command for another node's bed, waiting for its answer in a thread; its refusal as the HTTP answer."""
    try:
        return await asyncio.to_thread(command)
    except RemoteRefused as exc:
        raise HTTPException(status_code=exc.status, detail=exc.detail) from exc
