"""`painwatch serve`: build the engine and the beds from the settings, then run the HTTP/WebSocket server."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from service.alerts.center import AlertCenter
from service.alerts.snapshots import install_snapshots
from service.api import create_app
from service.auth import AccessControl, UserDirectory
from service.config import ServiceSettings
from service.config.loading import demo_video_path
from service.demo_video import ensure_demo_video
from service.errors import UserError
from service.inference import InferenceEngine, ModelLoadError
from service.metrics import ServiceMetrics
from service.pipeline.bed import BedRuntime, CaptureFactory, real_capture
from service.pipeline.broadcaster import Broadcaster
from service.store import Store, default_url
from service.store.writer import StoreWriter
from service.vision.detectors import create_detector

logger = logging.getLogger(__name__)

WS_IMPLEMENTATION = "websockets-sansio"
"""uvicorn's sans-I/O websockets protocol: honours TCP back-pressure (a stuck client blocks only its own send)."""


@dataclass
class Service:
    settings: ServiceSettings
    engine: InferenceEngine
    beds: list[BedRuntime]
    metrics: ServiceMetrics
    app: FastAPI
    alerts: AlertCenter
    access: AccessControl
    initial_admin_password: str | None = None
    """Set only on the first start without PAINWATCH_ADMIN_PASSWORD: the CLI prints it once, nothing logs it."""


def build_service(settings: ServiceSettings, capture_factory: CaptureFactory = real_capture) -> Service:
    """Everything checked before anything starts: demo video, detector models, the model contract."""
    prepare_demo_video(settings)
    check_detectors(settings)
    metrics = ServiceMetrics()
    try:
        engine = InferenceEngine(
            settings.model.path,
            settings.model.providers,
            settings.model.max_batch,
            settings.model.max_wait_ms,
            on_batch=metrics.observe_batch,
        )
    except ModelLoadError as exc:
        raise UserError(f"model.path: {exc} (set model.path in the config or PAINWATCH_MODEL__PATH)") from exc
    store = open_store(settings)
    writer = StoreWriter(store, settings.store.queue_size, purge_interval_s=settings.store.purge_interval_s)
    alerts = build_alert_center(settings, store, writer)
    users = UserDirectory(store)
    initial_admin_password = users.ensure_admin()
    access = AccessControl(users, writer, settings.auth)
    detectors = {bed.id: bed.detector.name for bed in settings.beds}
    snapshots = install_snapshots(settings.snapshots, settings.data_dir, alerts, detectors)
    on_frame = snapshots.on_frame if snapshots is not None else None
    beds = [
        BedRuntime(bed, settings, engine, metrics, capture_factory, on_message=alerts.observe, on_frame=on_frame)
        for bed in settings.beds
    ]
    app = create_app(settings, engine, beds, metrics, alerts=alerts, access=access)
    return Service(settings, engine, beds, metrics, app, alerts, access, initial_admin_password)


def open_store(settings: ServiceSettings) -> Store:
    """Open (and upgrade) the database."""
    url = settings.store.url or default_url(settings.data_dir)
    try:
        return Store.open(url)
    except Exception as exc:
        raise UserError(f"store.url: cannot open or upgrade the database ({type(exc).__name__}: {exc})") from exc


def build_alert_center(settings: ServiceSettings, store: Store, writer: StoreWriter) -> AlertCenter:
    """Register the beds and continue the alerts left open last time."""
    config = settings.store
    store.ensure_beds((bed.id, bed.label, bed.scale.value) for bed in settings.beds)
    retention_s = config.trend_retention_hours * 3600.0
    beds = {bed.id: (bed.scale, settings.alert_params(bed)) for bed in settings.beds}
    center = AlertCenter(beds, store, writer, Broadcaster("alerts", max_queue=256), trend_hz=config.trend_hz)
    writer.on_tick = center.tick
    writer.purge = lambda: _purge_trend(store, center.clock() - retention_s)
    center.restore()
    return center


def _purge_trend(store: Store, older_than: float) -> None:
    removed = store.purge_trend(older_than)
    if removed:
        logger.info("purged %d score-trend point(s)", removed)


def prepare_demo_video(settings: ServiceSettings) -> None:
    demo = demo_video_path(settings.data_dir)
    for bed in settings.beds:
        if bed.source.type == "video" and Path(bed.source.path) == demo:
            ensure_demo_video(demo)


def check_detectors(settings: ServiceSettings) -> None:
    """A missing detector model is a clear start-up error, not a crash inside a bed thread later."""
    for name in sorted({bed.detector.name for bed in settings.beds}):
        create_detector(name, mode="video").close()


def bind_socket(host: str, port: int, send_buffer_bytes: int) -> socket.socket:
    """The listening socket; accepted connections inherit its bounded send buffer (Linux)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"server: cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(service: Service, log_level: str = "info") -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server for the app and the socket to run it on (port 0 = any free port; read it from the socket)."""
    server = service.settings.server
    sock = bind_socket(server.host, server.port, server.client_send_buffer_bytes)
    config = uvicorn.Config(
        service.app,
        ws=WS_IMPLEMENTATION,
        timeout_graceful_shutdown=max(1, round(server.shutdown_timeout_s / 2)),
        log_level=log_level,
        ssl_certfile=server.tls_certfile,
        ssl_keyfile=server.tls_keyfile,
    )
    return uvicorn.Server(config), sock


def run_server(service: Service) -> None:
    server, sock = make_server(service)
    server.run(sockets=[sock])
