"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service.api.deps import OptionalUser
from service.api.routes.model import TritonServing, triton_serving
from service.api.state import ServiceState, get_state

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """/readyz for a logged-in caller (an anonymous one gets only `ready`)."""

    ready: bool = Field(description="Every bed can be watched now (the status code says the same: 200 or 503).")
    model: str = Field(description="The serving model, name/version.")
    backend: str = Field(description="model.backend: onnxruntime (in this process) or triton.")
    triton: TritonServing | None = Field(description="The Triton server, model, version and circuit; null otherwise.")
    problems: list[str] = Field(description="Why not ready: conditions, a stopped engine, sources not open.")


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
    detail = Readiness(
        ready=not problems,
        model=f"{state.engine.card.name}/{state.engine.card.version}",
        backend=state.settings.model.backend,
        triton=triton_serving(state.engine.model),
        problems=problems,
    )
    return JSONResponse(detail.model_dump(mode="json"), status_code=status)
