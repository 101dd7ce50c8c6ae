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

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/model", tags=["model"], dependencies=[RequireRole(Role.NURSE)])


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="Exported model folder (model.onnx + model_card.json) or .onnx file on the server.")


def model_report(state: ServiceState) -> dict[str, Any]:
    active = state.engine.model
    return {
        "path": str(active.path),
        "providers": active.providers,
        "loaded_at": active.loaded_at,
        "warmup_ms": active.warmup_ms,
        "card": active.card.model_dump(mode="json"),
    }


@router.get("", summary="The active model and its card")
def get_model(state: Annotated[ServiceState, Depends(get_state)]) -> dict[str, Any]:
    return model_report(state)


@router.post(
    "/reload",
    summary="Load, check and warm up a model, then swap it in; a bad file is refused (422) and the old model stays",
)
async def reload_model(
    request: ReloadRequest,
    state: Annotated[ServiceState, Depends(get_state)],
    user: EngineerUser,
    access: Annotated[AccessControl, Depends(access_control)],
) -> dict[str, Any]:
    try:
        # Loading takes seconds: off the event loop, so streams keep flowing meanwhile.
        await asyncio.to_thread(state.engine.reload, request.path)
    except ModelLoadError as exc:
        state.metrics.model_reloads.labels("refused").inc()
        access.audit(user.name, "model.reload", {"path": str(request.path), "outcome": "refused"})
        logger.warning("model reload refused: %s", exc)
        raise HTTPException(status_code=422, detail=f"model refused, the previous model keeps serving: {exc}") from exc
    state.metrics.model_reloads.labels("ok").inc()
    card = state.engine.card
    access.audit(
        user.name, "model.reload", {"path": str(request.path), "outcome": "ok", "model": f"{card.name}/{card.version}"}
    )
    return model_report(state)
