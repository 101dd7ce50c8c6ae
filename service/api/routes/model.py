"""The active model card, and atomic hot reload."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import EngineerUser, RequireRole, access_control
from service.api.state import ServiceState, get_state
from service.auth import AccessControl, Role
from service.inference import ModelLoadError
from service.model_card import MODEL_FILE

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/model", tags=["model"], dependencies=[RequireRole(Role.NURSE)])


_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="Exported model name: a folder under the configured model.root.")
    version: str = Field(pattern=_NAME, description="Its version folder (model.onnx + model_card.json).")


def resolve_under_root(root: Path, name: str, version: str) -> Path:
    """root/name/version, only when it is a model folder inside root (no way out through links or '..')."""
    folder = (root / name / version).resolve()
    if not folder.is_relative_to(root.resolve()) or not (folder / MODEL_FILE).is_file():
        raise HTTPException(status_code=404, detail=f"no exported model {name}/{version} under the models root")
    return folder


def model_report(state: ServiceState) -> dict[str, Any]:
    active = state.engine.model
    return {
        "path": str(active.path),
        "providers": active.providers,
        "loaded_at": active.loaded_at,
        "warmup_ms": active.warmup_ms,
        "sha256": active.sha256,
        "card": active.card.model_dump(mode="json"),
    }


@router.get("", summary="The active model and its card")
def get_model(state: Annotated[ServiceState, Depends(get_state)]) -> dict[str, Any]:
    return model_report(state)


@router.post(
    "/reload",
    summary="Load a model from the models root by name and version, check it (contract, sha256, reference set, "
    "not degenerate) and warm it up, then swap it in; a bad one is refused (422) and the old model stays",
)
async def reload_model(
    request: ReloadRequest,
    state: Annotated[ServiceState, Depends(get_state)],
    user: EngineerUser,
    access: Annotated[AccessControl, Depends(access_control)],
) -> dict[str, Any]:
    asked = {"name": request.name, "version": request.version}
    try:
        folder = resolve_under_root(state.settings.model.root, request.name, request.version)
        # Loading takes seconds: off the event loop, so streams keep flowing meanwhile.
        await asyncio.to_thread(state.engine.reload, folder)
    except (HTTPException, ModelLoadError) as exc:
        state.metrics.model_reloads.labels("refused").inc()
        access.audit(user.name, "model.reload", {**asked, "outcome": "refused", "reason": str(exc)[:300]})
        logger.warning("model reload refused: %s", exc)
        if isinstance(exc, HTTPException):
            raise
        reason = str(exc).replace(str(folder), f"{request.name}/{request.version}")  # no server paths in answers
        raise HTTPException(
            status_code=422, detail=f"model refused, the previous model keeps serving: {reason}"
        ) from exc
    state.metrics.model_reloads.labels("ok").inc()
    active = state.engine.model
    access.audit(user.name, "model.reload", {**asked, "outcome": "ok", "sha256": active.sha256})
    return model_report(state)
