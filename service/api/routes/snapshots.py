"""Review snapshots of pain episodes: metadata + score trace, the face crop and its Grad-CAM overlay.

Infant faces are health data: these routes are the only way to them (the files are never served statically), and
access control protects them like every other route. Responses are never cached by browsers or proxies.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.aggregation.scales import Scale
from service.alerts.snapshots import DISABLED_REASON, load_snapshot, read_trace, snapshot_file
from service.alerts.snapshots.sealing import read_snapshot_file
from service.api.deps import NurseUser, RequireRole
from service.api.state import ServiceState, get_state
from service.auth import Role
from service.errors import UserError
from service.store.models import SnapshotRow

logger = logging.getLogger(__name__)

# nurses review episodes (as the alert routes); without a login nothing here answers
router = APIRouter(prefix="/api/alerts", tags=["snapshots"], dependencies=[RequireRole(Role.NURSE)])

_NO_STORE = {"Cache-Control": "no-store"}


class SnapshotPeak(BaseModel):
    """The analysed frame with the highest smoothed pain probability of the episode (the stored crop's frame)."""

    model_config = ConfigDict(from_attributes=True)

    alert_id: str
    bed_id: str
    group_id: str
    ts: float = Field(description="Capture time of the peak frame (epoch seconds).")
    opened_at: float
    closed_at: float | None = Field(description="None while the episode is open (the snapshot is provisional).")
    final: bool = Field(description="True once the episode closed and the snapshot will not change.")
    probability: float = Field(description="Smoothed pain probability at the peak.")
    pain_probability: float | None = Field(description="The peak frame's own pain probability.")
    estimated_score: int | None
    detector: str
    detector_score: float | None
    x: int
    y: int
    side: int = Field(description="The face box (pixels of the camera frame) the crop was cut from.")
    model_name: str
    model_version: str
    updated_at: float


class TracePoint(BaseModel):
    """One stored score-trend point of the bed during the episode (about one a second)."""

    ts: float
    state: str
    smoothed_probability: float | None
    pain_fraction: float | None
    estimated_score: int | None
    face_visible_share: float | None
    low_evidence: bool


class TraceFrame(BaseModel):
    """One analysed frame around the peak."""

    ts: float
    pain_probability: float | None
    smoothed_probability: float


class SnapshotTrace(BaseModel):
    """The episode's score trace, as the snapshot writer stored it."""

    trend: list[TracePoint]
    frames: list[TraceFrame]


class SnapshotReview(BaseModel):
    snapshot: SnapshotPeak
    scale: Scale | None = Field(description="The bed's clinical scale (None for a bed no longer configured).")
    trace: SnapshotTrace | None = Field(description="None when the trace file is missing or unreadable.")
    crop_url: str
    gradcam_url: str


def _row(state: ServiceState, alert_id: str, viewer: str, part: str) -> SnapshotRow:
    """The snapshot row; every look at an infant's face is audited (who, which episode, which part)."""
    if not state.settings.snapshots.enabled:
        raise HTTPException(status_code=404, detail=DISABLED_REASON)
    row = load_snapshot(state.alert_center().store, alert_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no review snapshot for alert {alert_id!r}")
    state.access.audit(viewer, "snapshot.view", {"alert_id": alert_id, "part": part})
    return row


def _image(state: ServiceState, alert_id: str, relative: str) -> Response:
    """The image, decrypted in memory when it is encrypted at rest (it never touches the disk in clear)."""
    path = snapshot_file(state.settings.data_dir, relative)
    if path is None:
        raise HTTPException(status_code=404, detail=f"the snapshot image of alert {alert_id!r} is missing")
    keyring = state.snapshots.writer.keyring if state.snapshots is not None else None
    try:
        data = read_snapshot_file(path, keyring)
    except UserError as exc:
        logger.error("snapshot image of alert %s: %s", alert_id, exc)
        raise HTTPException(status_code=500, detail="the snapshot image cannot be decrypted") from exc
    return Response(data, media_type="image/jpeg", headers=_NO_STORE)


@router.get("/{alert_id}/snapshot", summary="The episode's review snapshot: peak metadata and score trace")
def get_snapshot(alert_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser) -> SnapshotReview:
    row = _row(state, alert_id, user.name, "metadata")
    base = f"/api/alerts/{alert_id}/snapshot"
    scale = next((bed.scale for bed in state.settings.beds if bed.id == row.bed_id), None)
    return SnapshotReview(
        snapshot=SnapshotPeak.model_validate(row),
        scale=scale,
        trace=_trace(state, row),
        crop_url=f"{base}/crop.jpg",
        gradcam_url=f"{base}/gradcam.jpg",
    )


def _trace(state: ServiceState, row: SnapshotRow) -> SnapshotTrace | None:
    raw = read_trace(state.settings.data_dir, row)
    if raw is None:
        return None
    try:
        return SnapshotTrace.model_validate(raw)
    except ValidationError as exc:  # an unreadable trace must not hide the crop and the peak
        logger.error("snapshot trace of alert %s is not readable: %s", row.alert_id, exc)
        return None


@router.get("/{alert_id}/snapshot/crop.jpg", summary="The face crop at the episode's peak (224x224 JPEG)")
def get_snapshot_crop(alert_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser) -> Response:
    return _image(state, alert_id, _row(state, alert_id, user.name, "crop").crop_path)


@router.get("/{alert_id}/snapshot/gradcam.jpg", summary="The pain-class Grad-CAM over the crop (JPEG)")
def get_snapshot_gradcam(
    alert_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser
) -> Response:
    return _image(state, alert_id, _row(state, alert_id, user.name, "gradcam").gradcam_path)
