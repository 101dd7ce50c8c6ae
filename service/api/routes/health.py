"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from service.api.deps import OptionalUser
from service.api.state import ServiceState, get_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up (liveness only: it says nothing about the beds)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready to watch every bed: 503 when the store is unreachable, the engine or any bed's worker is down or "
    "stalled, or a source is not open. Logged-in callers also get the reasons and the model; anonymous ones "
    "(orchestrator probes) only the status",
)
def readyz(state: Annotated[ServiceState, Depends(get_state)], user: OptionalUser) -> JSONResponse:
    problems = [f"{c.name}: {c.component}: {c.reason}" for c in state.conditions()]
    if not state.engine.running:
        problems.append("inference engine not running")
    for bed in state.beds.values():
        if not bed.source_open:
            problems.append(f"bed {bed.bed_id}: source not open ({bed.capture.state_reason or bed.capture.state})")
    status = 200 if not problems else 503
    if user is None:  # bed ids, paths and model names are not for anonymous callers
        return JSONResponse({"ready": not problems}, status_code=status)
    body = {
        "ready": not problems,
        "model": f"{state.engine.card.name}/{state.engine.card.version}",
        "problems": problems,
    }
    return JSONResponse(body, status_code=status)
