"""The FastAPI app factory. The lifespan starts the engine and the beds, and stops them fast on shutdown."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from service.alerts.center import AlertCenter
from service.alerts.snapshots import SnapshotRecorder
from service.api.middleware import BodySizeLimit, SecurityHeaders
from service.api.routes import alerts as alerts_routes
from service.api.routes import audit as audit_routes
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
from service.supervision import Supervisor
from service.ward.node import WardNode

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = "store unavailable: the database cannot be reached, so this was not saved; try again shortly"


def create_app(
    settings: ServiceSettings,
    engine: InferenceEngine,
    beds: Iterable[BedRuntime],
    metrics: ServiceMetrics,
    alerts: AlertCenter,
    access: AccessControl,
    supervisor: Supervisor,
    snapshots: SnapshotRecorder | None = None,
    manage_lifecycle: bool = True,
    ward: WardNode | None = None,
) -> FastAPI:
    """The app over already-built parts; with `manage_lifecycle` the supervisor starts and stops them with the
    server (the engine, the writers, the beds)."""
    beds_by_id = {b.bed_id: b for b in beds}
    state = ServiceState(settings, engine, beds_by_id, metrics, alerts, access, supervisor, snapshots, ward)

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
    app.add_exception_handler(DBAPIError, _store_unavailable)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts=settings.server.tls or settings.server.behind_tls_proxy)  # outermost
    routers = (health.router, auth_routes.router, users.router, beds_routes.router, alerts_routes.router)
    for router in (*routers, model.router, streams.router, metrics_routes.router, docs.router):
        app.include_router(router)
    app.include_router(audit_routes.router)
    app.include_router(snapshots_routes.router)  # review snapshots: infant faces, protected like all
    install_dashboard(app)
    return app


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A database error in a request: 503 with what to do (the action was not applied), never a 500."""
    logger.error("%s %s: store error: %s", request.method, request.url.path, str(exc).splitlines()[0][:300])
    return JSONResponse({"detail": STORE_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"})


def start_service(state: ServiceState) -> None:
    state.alerts.start_watching()
    state.supervisor.start()  # the store writer first, the beds last
    logger.info(
        "serving %d bed(s) with model %s/%s", len(state.beds), state.engine.card.name, state.engine.card.version
    )


def stop_service(state: ServiceState) -> None:
    """Within server.shutdown_timeout_s: open episodes' snapshots written as they stand, beds stopped, snapshot
    files finished, the store queue drained (what cannot be written goes to the dead-letter file)."""
    started = time.monotonic()
    if state.snapshots is not None:
        state.snapshots.finish_open_episodes()
    state.supervisor.stop(state.settings.server.shutdown_timeout_s)
    state.alerts.broadcaster.close_all()
    if state.ward is not None:
        state.ward.close()
    logger.info("service stopped in %.2f s", time.monotonic() - started)
