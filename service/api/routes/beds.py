"""Beds: configuration, latest state and counters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from service.api.state import ServiceState, get_state
from service.pipeline.bed import BedRuntime

router = APIRouter(prefix="/api/beds", tags=["beds"])


def bed_report(bed: BedRuntime) -> dict[str, Any]:
    capture = bed.capture
    return {
        "summary": bed.summary().model_dump(mode="json"),
        "source": {
            "type": bed.config.source.type,
            "state": capture.state,
            "state_reason": capture.state_reason,
            "frames_captured": capture.frames_captured,
            "frames_skipped": capture.frames_dropped,
            "reopen_count": capture.reopen_count,
        },
        "analysis": {
            "frames_analysed": bed.worker.frames_analysed,
            "analysed_fps": bed.worker.analysed_fps,
            "face_found_ratio": bed.worker.face_found_ratio,
            "errors": bed.worker.errors,
            "max_rate_hz": bed.config.analysis_rate_hz,
            "detector": bed.config.detector.name,
        },
        "clients": {
            "connected": bed.broadcaster.subscriber_count,
            "messages_published": bed.broadcaster.published,
            "messages_dropped": bed.broadcaster.dropped_total,
        },
    }


@router.get("", summary="Every bed's latest state")
def list_beds(state: Annotated[ServiceState, Depends(get_state)]) -> list[dict[str, Any]]:
    return [bed_report(bed) for bed in state.beds.values()]


@router.get("/{bed_id}", summary="One bed's latest state and counters")
def get_bed(bed_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> dict[str, Any]:
    return bed_report(state.bed(bed_id))
