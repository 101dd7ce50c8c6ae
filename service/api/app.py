"""The FastAPI app factory. The lifespan starts the engine and the beds, and stops them fast on shutdown."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.alerts.center import AlertCenter
from service.api.routes import alerts as alerts_routes
from service.api.routes import auth as auth_routes
from service.api.routes import beds as beds_routes
from service.api.routes import docs, health, model, streams, users
from service.api.routes import metrics as metrics_routes
from service.api.routes import snapshots as snapshots_routes
from service.api.routes.web import install_dashboard
from service.api.state import ServiceState
from service.auth import AccessControl
from service.config import ServiceSettings
from service.inference import InferenceEngine
from service.metrics import ServiceMetrics
from service.pipeline.bed import BedRuntime

logger = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 3.0
"""Beds, sources and the engine get this long in total; SIGTERM must end the process within 5 s."""


def create_app(
    settings: ServiceSettings,
    engine: InferenceEngine,
    beds: Iterable[BedRuntime],
    metrics: ServiceMetrics | None = None,
    manage_lifecycle: bool = True,
    alerts: AlertCenter | None = None,
    access: AccessControl | None = None,
) -> FastAPI:
    """The app over already-built parts; with `manage_lifecycle` it starts/stops them with the server.

    Without `access` every route that needs a login answers 503 (closed, not open).
    """
    beds_by_id = {b.bed_id: b for b in beds}
    state = ServiceState(settings, engine, beds_by_id, metrics or ServiceMetrics(), alerts, access)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            start_service(state)
        try:
            yield
        finally:
            if manage_lifecycle:
                stop_service(state)

    app = FastAPI(
        title="painwatch bedside service",
        version="1",
        description="Live infant pain estimates per bed from facial expressions (decision support, not a "
        "diagnosis). A null probability means unknown (no face, no signal, no model result), never 'no pain'.",
        lifespan=lifespan,
        docs_url=None,  # served by routes/docs.py behind the login
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = state
    routers = (health.router, auth_routes.router, users.router, beds_routes.router, alerts_routes.router)
    for router in (*routers, model.router, streams.router, metrics_routes.router, docs.router):
        app.include_router(router)
    app.include_router(snapshots_routes.router)  # review snapshots: infant faces, protected like all
    install_dashboard(app)
    return app


def start_service(state: ServiceState) -> None:
    if state.alerts is not None:
        state.alerts.writer.start()  # before the beds: their first readings already go to the store
    state.engine.start()
    for bed in state.beds.values():
        bed.start()
    logger.info(
        "serving %d bed(s) with model %s/%s", len(state.beds), state.engine.card.name, state.engine.card.version
    )


def stop_service(state: ServiceState) -> None:
    started = time.monotonic()
    per_bed = SHUTDOWN_BUDGET_S / max(1, len(state.beds) + 1)
    for bed in state.beds.values():
        bed.stop(per_bed)
    state.engine.stop(per_bed)
    if state.alerts is not None:
        state.alerts.writer.stop(per_bed)  # writes what the beds queued last
        state.alerts.broadcaster.close_all()
    logger.info("service stopped in %.2f s", time.monotonic() - started)
