"""Beds: configuration, latest state and counters; pausing and resuming a bed's alerts."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from service.alerts.models import BedAlertState
from service.api.deps import NurseUser, RequireRole
from service.api.state import ServiceState, get_state
from service.auth import Role
from service.pipeline.bed import BedRuntime
from service.pipeline.messages import BedSummary

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
    source: SourceReport
    analysis: AnalysisReport
    clients: ClientsReport


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


@router.get("", summary="Every bed's latest state")
def list_beds(state: Annotated[ServiceState, Depends(get_state)]) -> list[BedReport]:
    return [bed_report(state, bed) for bed in state.beds.values()]


@router.get("/{bed_id}", summary="One bed's latest state and counters")
def get_bed(bed_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> BedReport:
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
    state.bed(bed_id)
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
    state.bed(bed_id)
    return await asyncio.to_thread(state.alerts.pause, bed_id, request.minutes, request.reason, user.name)


@router.post("/{bed_id}/resume", summary="Resume the bed's alerts now (stored before the answer; 503 as for pause)")
async def resume_alerts(
    bed_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser
) -> BedAlertState:
    state.bed(bed_id)
    return await asyncio.to_thread(state.alerts.resume, bed_id, user.name)
