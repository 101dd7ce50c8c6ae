"""The active model card, and atomic hot reload."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import EngineerUser, RequireRole, access_control
from service.api.state import ServiceState, get_state
from service.auth import AccessControl, Role
from service.inference import ModelLoadError
from service.inference.backends import triton_status
from service.inference.model import ServingModel
from service.model_card import MODEL_FILE, card_warnings

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


class ModelWarning(BaseModel):
    text: str
    fix: str = Field(description="What to do about it ('' when nothing can be done here).")


class MetricSummary(BaseModel):
    name: str = Field(description="A cross-validation metric of the card (accuracy, f1, roc_auc, ...).")
    mean: float | None
    std: float | None
    n: int | None = Field(description="Folds (or runs) averaged.")


class DatasetFacts(BaseModel):
    name: str
    infants: int | None
    frames: int | None
    class_balance: dict[str, int]
    synthetic: bool = Field(description="True when the card marks the dataset as synthetic (no real infants).")


class TritonServing(BaseModel):
    """The Triton Inference Server serving the beds (backend triton)."""

    url: str = Field(description="model.triton.url: the server's gRPC host:port.")
    model: str = Field(description="Triton model name (the export's name).")
    version: str = Field(description="Triton model version (the export's version folder).")
    max_batch_size: int = Field(description="Triton's max_batch_size for the model.")
    circuit: Literal["closed", "open", "half_open"] = Field(
        description="closed: Triton answers; open: batches fail at once (beds show model_error) until the "
        "cool-down ends; half_open: one trial call is allowed."
    )
    problem: str | None = Field(description="Why Triton is not answering now; null while the circuit is closed.")


def triton_serving(model: ServingModel) -> TritonServing | None:
    status = triton_status(model)
    return None if status is None else TritonServing(**asdict(status))


class ModelReport(BaseModel):
    """The active model: the raw fields the dashboard has always had, plus typed ones for people to read."""

    path: str
    backend: str = Field(description="model.backend: onnxruntime (in this process) or triton (a Triton server).")
    triton: TritonServing | None = Field(description="The Triton server, model and version; null with onnxruntime.")
    providers: list[str] = Field(
        description="ONNX Runtime providers the session really uses, in priority order; with the triton backend "
        "one entry naming the server, the model and how Triton runs it."
    )
    requested_providers: list[str] = Field(description="model.providers of the configuration.")
    loaded_at: float
    warmup_ms: float
    sha256: str
    card: dict[str, Any]
    name: str
    version: str
    demo: bool
    warnings: list[ModelWarning] = Field(
        description="Most serious first: demo model, quantisation deviations, provider fallback, the card's own."
    )
    cv_metrics: list[MetricSummary]
    datasets: list[DatasetFacts]


def model_report(state: ServiceState) -> ModelReport:
    active = state.engine.model
    card = active.card
    requested = list(state.settings.model.providers)
    warnings = card_warnings(card, active.providers, state.settings.model.requested_providers)
    report = ModelReport(
        path=str(active.path),
        backend=state.settings.model.backend,
        triton=triton_serving(active),
        providers=list(active.providers),
        requested_providers=requested,
        loaded_at=active.loaded_at,
        warmup_ms=active.warmup_ms,
        sha256=active.sha256,
        card=card.model_dump(mode="json"),
        name=card.name,
        version=card.version,
        demo=card.demo,
        warnings=[ModelWarning(text=t, fix=f) for t, f in warnings],
        cv_metrics=[_metric(name, value) for name, value in card.cv_metrics.items()],
        datasets=[
            DatasetFacts(
                name=d.name,
                infants=d.infants,
                frames=d.frames,
                class_balance=d.class_balance,
                synthetic=bool((d.model_extra or {}).get("synthetic", False)),
            )
            for d in card.datasets
        ],
    )
    return report


def _metric(name: str, value: Any) -> MetricSummary:
    if isinstance(value, dict):
        return MetricSummary(name=name, mean=_number(value.get("mean")), std=_number(value.get("std")),
                             n=value.get("n") if isinstance(value.get("n"), int) else None)  # fmt: skip
    return MetricSummary(name=name, mean=_number(value), std=None, n=None)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@router.get("", summary="The active model and its card")
def get_model(state: Annotated[ServiceState, Depends(get_state)]) -> ModelReport:
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
) -> ModelReport:
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
