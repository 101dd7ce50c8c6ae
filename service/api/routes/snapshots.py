"""Review snapshots of pain episodes: metadata + score trace, the face crop and its Grad-CAM overlay.

Infant faces are health data: these routes are the only way to them (the files are never served statically), and
access control protects them like every other route. Responses are never cached by browsers or proxies.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from service.alerts.snapshots import DISABLED_REASON, load_snapshot, read_trace, snapshot_file, snapshot_metadata
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
def get_snapshot(alert_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser) -> dict[str, Any]:
    row = _row(state, alert_id, user.name, "metadata")
    base = f"/api/alerts/{alert_id}/snapshot"
    return {
        "snapshot": snapshot_metadata(row),
        "trace": read_trace(state.settings.data_dir, row),
        "crop_url": f"{base}/crop.jpg",
        "gradcam_url": f"{base}/gradcam.jpg",
    }


@router.get("/{alert_id}/snapshot/crop.jpg", summary="The face crop at the episode's peak (224x224 JPEG)")
def get_snapshot_crop(alert_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser) -> Response:
    return _image(state, alert_id, _row(state, alert_id, user.name, "crop").crop_path)


@router.get("/{alert_id}/snapshot/gradcam.jpg", summary="The pain-class Grad-CAM over the crop (JPEG)")
def get_snapshot_gradcam(
    alert_id: str, state: Annotated[ServiceState, Depends(get_state)], user: NurseUser
) -> Response:
    return _image(state, alert_id, _row(state, alert_id, user.name, "gradcam").gradcam_path)
