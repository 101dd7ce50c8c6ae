"""`painwatch serve`: build the engine and the beds from the settings, then run the HTTP/WebSocket server."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from service.alerts.center import AlertCenter, AlertListener
from service.alerts.snapshots import SnapshotRecorder, SnapshotWriter, purge_snapshots
from service.alerts.snapshots.sealing import Keyring
from service.api import create_app
from service.auth import AccessControl, UserDirectory
from service.auth.users import INITIAL_PASSWORD_FILE
from service.config import ServiceSettings
from service.config.loading import demo_video_path
from service.demo_video import ensure_demo_video
from service.errors import UserError
from service.files import make_private_dir
from service.inference import InferenceEngine, ModelLoadError
from service.inference.backends import backend_problem, model_loader
from service.metrics import ServiceMetrics
from service.pipeline.bed import BedRuntime, CaptureFactory, real_capture
from service.pipeline.broadcaster import Broadcaster
from service.store import Store, default_url
from service.store.writer import AuditEntry, RetryPolicy, StoreWriter
from service.supervision import Condition, PeriodicTask, Probe, RestartPolicy, Supervised, Supervisor
from service.vision.detectors import create_detector
from service.ward.bus import Outbox
from service.ward.node import WardNode, open_outbox

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
    supervisor: Supervisor
    initial_admin_password_file: Path | None = None
    """Set only on the first start without PAINWATCH_ADMIN_PASSWORD: the 0600 file holding the generated password
    (the CLI says where; the password itself is never printed or logged)."""


def build_service(settings: ServiceSettings, capture_factory: CaptureFactory = real_capture) -> Service:
    """Everything checked before anything starts (demo video, detector models, the model contract), and every
    component wired here, once, through constructors: nothing is patched onto another object afterwards."""
    make_private_dir(settings.data_dir)  # faces, scores and the database: the service's user only (0700)
    prepare_demo_video(settings)
    check_detectors(settings)
    metrics = ServiceMetrics()
    engine = build_engine(settings, metrics)
    store = open_store(settings)
    config = settings.store
    retry = RetryPolicy(attempts=config.retry_attempts, max_s=config.retry_backoff_max_s)
    writer = StoreWriter(store, settings.data_dir, trend_queue=config.queue_size, retry=retry, metrics=metrics)
    keyring = Keyring.load(settings.snapshots.key_file)
    snapshot_writer = SnapshotWriter(settings.data_dir, writer, settings.snapshots.jpeg_quality, keyring)
    recorder = build_recorder(settings, store, snapshot_writer)
    outbox = open_ward_outbox(settings, store)
    alerts = build_alert_center(settings, store, writer, recorder, outbox)
    users = UserDirectory(store)
    try:
        initial_admin_password_file = users.ensure_admin(settings.data_dir)
    except OSError as exc:
        raise UserError(
            f"data_dir: cannot write the first-start admin password file ({exc}); make data_dir writable or set "
            "PAINWATCH_ADMIN_PASSWORD"
        ) from exc
    access = AccessControl(users, writer, settings.auth, settings.data_dir / INITIAL_PASSWORD_FILE)
    on_frame = recorder.on_frame if recorder is not None else None
    beds = [
        BedRuntime(bed, settings, engine, metrics, capture_factory, on_message=alerts.observe, on_frame=on_frame)
        for bed in settings.beds
    ]
    housekeeping = [
        PeriodicTask("alert-timers", alerts.tick, ALERT_TICK_S),
        PeriodicTask("retention", lambda: purge_expired(settings, store, alerts), settings.store.purge_interval_s),
    ]
    ward = None
    if settings.node is not None and outbox is not None:
        ward = WardNode(
            settings.node, store, outbox, outbox.dsn, beds, alerts, settings.stream.summary_hz, settings.alerts
        )
    ward_threads = ward.components() if ward is not None else []
    supervisor = build_supervisor(
        settings, [writer, engine, snapshot_writer, *housekeeping, *ward_threads], beds, metrics
    )
    app = create_app(settings, engine, beds, metrics, alerts, access, supervisor, recorder, ward=ward)
    return Service(settings, engine, beds, metrics, app, alerts, access, supervisor, initial_admin_password_file)


ALERT_TICK_S = 0.5
"""Alert timers (escalation, auto-resume, beds that fell silent) are checked this often."""


def build_engine(settings: ServiceSettings, metrics: ServiceMetrics) -> InferenceEngine:
    try:
        return InferenceEngine(
            settings.model.path,
            settings.model.providers,
            settings.model.max_batch,
            settings.model.max_wait_ms,
            on_batch=metrics.observe_batch,
            on_invalid=lambda _reason: metrics.model_output_invalid.inc(),
            stall_after_s=settings.supervision.stall_after_s,
            intra_op_threads=settings.model.intra_op_threads,
            loader=model_loader(settings.model),
        )
    except ModelLoadError as exc:
        raise UserError(f"model.path: {exc} (set model.path in the config or PAINWATCH_MODEL__PATH)") from exc


def open_store(settings: ServiceSettings) -> Store:
    """Open (and upgrade) the database."""
    url = settings.store.url or default_url(settings.data_dir)
    try:
        return Store.open(url)
    except Exception as exc:
        raise UserError(f"store.url: cannot open or upgrade the database ({type(exc).__name__}: {exc})") from exc


def build_recorder(settings: ServiceSettings, store: Store, writer: SnapshotWriter) -> SnapshotRecorder | None:
    """Review snapshots (None when switched off), continuing the episodes left open last time."""
    if not settings.snapshots.enabled:
        logger.info("review snapshots are switched off")
        return None
    detectors = {bed.id: bed.detector.name for bed in settings.beds}
    recorder = SnapshotRecorder(settings.snapshots, settings.data_dir, writer, detectors)
    recorder.resume(store, [a for a in store.active_alerts() if a.bed_id in detectors])  # a ward: its own beds
    return recorder


def build_alert_center(
    settings: ServiceSettings,
    store: Store,
    writer: StoreWriter,
    recorder: SnapshotRecorder | None,
    outbox: Outbox | None = None,
) -> AlertCenter:
    """Register the beds and continue the alerts left open last time (a ward node also sends its alert events to
    the other nodes through `outbox`)."""
    store.ensure_beds((bed.id, bed.label, bed.scale.value) for bed in settings.beds)
    beds = {bed.id: (bed.scale, settings.alert_params(bed)) for bed in settings.beds}
    listeners: list[AlertListener] = [recorder] if recorder is not None else []
    if outbox is not None:
        listeners.append(outbox)
    broadcaster = Broadcaster("alerts", max_queue=256)
    center = AlertCenter(beds, store, writer, broadcaster, trend_hz=settings.store.trend_hz, listeners=listeners)
    center.restore()
    return center


def open_ward_outbox(settings: ServiceSettings, store: Store) -> Outbox | None:
    """A ward node (`node:` set) registers itself and claims its beds before anything starts; None otherwise."""
    if settings.node is None or settings.store.url is None:
        return None
    beds = [(bed.id, bed.label, bed.scale.value) for bed in settings.beds]
    return open_outbox(settings.node, store, settings.store.url, beds)


def purge_expired(settings: ServiceSettings, store: Store, alerts: AlertCenter) -> None:
    """Retention, at start and then every store.purge_interval_s: trend points, review snapshots (even when switched
    off now) and the nurses' free-text notes past their age."""
    wall = alerts.clock().wall
    removed = store.purge_trend(wall - settings.store.trend_retention_hours * 3600.0)
    if removed:
        logger.info("purged %d score-trend point(s)", removed)
    removed = purge_snapshots(store, settings.data_dir, wall - settings.snapshots.retention_days * 86400.0)
    if removed:
        logger.info("purged %d review snapshot(s)", removed)
    removed = store.purge_notes(wall - settings.store.note_retention_days * 86400.0)
    if removed:
        logger.info("removed the free-text notes of %d alert(s) past their retention", removed)


def build_supervisor(
    settings: ServiceSettings, services: list[Supervised], beds: list[BedRuntime], metrics: ServiceMetrics
) -> Supervisor:
    """Service components start first (the store writer before anything that writes), then each bed's capture
    and worker; they stop in reverse order, so the store writer drains last."""
    config = settings.supervision
    policy = RestartPolicy(config.check_interval_s, config.initial_backoff_s, config.max_backoff_s)
    writer = next(c for c in services if isinstance(c, StoreWriter))
    by_id = {bed.bed_id: bed for bed in beds}
    store_probe = Probe("store_unavailable", "store", lambda: None if writer.available else writer.last_error)
    engine = next(c for c in services if isinstance(c, InferenceEngine))
    backend_probe = Probe("triton_unavailable", "inference-engine", lambda: backend_problem(engine.model))

    def on_condition(condition: Condition, raised: bool) -> None:
        metrics.condition_active.labels(condition.name, condition.component).set(1.0 if raised else 0.0)
        action = "system.condition_raised" if raised else "system.condition_cleared"
        writer.put(AuditEntry(time.time(), "system", action, condition.model_dump(mode="json")))  # the alarm log

    return Supervisor(
        [*services, *(unit for bed in beds for unit in bed.components())],
        probes=[store_probe, backend_probe] if settings.model.backend == "triton" else [store_probe],
        policy=policy,
        on_bed_problem=lambda bed_id, problem: by_id[bed_id].report_problem(problem),
        on_condition=on_condition,
        on_restart=lambda name: metrics.component_restarts.labels(name).inc(),
    )


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
        timeout_graceful_shutdown=max(1, round(server.shutdown_timeout_s / 3)),  # then the lifespan's stop
        log_level=log_level,
        proxy_headers=bool(server.trusted_proxies),  # X-Forwarded-For believed only from configured proxies
        forwarded_allow_ips=server.trusted_proxies or None,
        ssl_certfile=server.tls_certfile,
        ssl_keyfile=server.tls_keyfile,
    )
    return uvicorn.Server(config), sock


def run_server(service: Service) -> None:
    server, sock = make_server(service)
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is over; for a service manager that is a
    # normal stop (the lifespan has drained the store queue and finalised snapshots), so it ends the process with 0.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(0))
    server.run(sockets=[sock])
