"""The ward's message bus: PostgreSQL LISTEN/NOTIFY on one channel, through two supervised threads per node.

- `Outbox` owns one connection and sends every note (bed summaries, alert events, commands, replies) in order;
  callers only put notes on its bounded queue, so a slow or unreachable database never blocks a bed or a request.
- `Listener` owns another connection, LISTENs, and hands every note from the other nodes to a handler. A payload
  that is not a valid note is logged and counted, never fatal: a node does not die of one bad peer or message.

Both reconnect by themselves; while disconnected they report unhealthy, so the supervisor raises a
`component_down` condition (the dashboard's banner) and restarts them with its backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from service.alerts.models import AlertEventMessage
from service.store.models import ScoreTrendRow
from service.supervision import Health, SupervisedThread
from service.ward.messages import CHANNEL, MAX_PAYLOAD_BYTES, NOTE, AlertEventNote, WardNote

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3
ROUND_S = 0.5
"""Each thread's loop wakes at least this often (its heartbeat for the supervisor)."""
STALL_AFTER_S = 10.0


def conninfo(sqlalchemy_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (postgresql+psycopg://...)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class _BusThread(SupervisedThread):
    """A supervised thread whose `_loop` runs on one PostgreSQL connection, reconnecting when it drops."""

    def __init__(self, name: str, dsn: str) -> None:
        super().__init__(name, stall_after_s=STALL_AFTER_S)
        self.dsn = dsn
        self.connected = False
        self.last_error: str | None = None

    def health(self, now_mono: float) -> Health:
        if not self.connected and self._thread is not None and self._thread.is_alive():
            return Health(False, f"{self._name}: no connection to PostgreSQL ({self.last_error or 'connecting'})")
        return super().health(now_mono)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as connection:
                    self._loop(connection, stop)
            except psycopg.Error as exc:
                self.connected = False
                self.last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                logger.warning("%s: %s; reconnecting", self._name, self.last_error)
                stop.wait(1.0)
            self.heartbeat = time.monotonic()
        self.connected = False

    def _loop(self, connection: psycopg.Connection, stop: threading.Event) -> None:
        raise NotImplementedError


class Outbox(_BusThread):
    """Sends notes in order. `put` never blocks; when the queue is full the note is dropped and counted (summaries
    come again in half a second; alert events are in the database anyway)."""

    def __init__(self, node_id: str, dsn: str, max_queue: int = 2000) -> None:
        super().__init__("ward-outbox", dsn)
        self.node_id = node_id
        self.instance = uuid.uuid4().hex
        """This process, as the node registry knows it (service/ward/registry.py)."""
        self._queue: queue.Queue[WardNote] = queue.Queue(maxsize=max_queue)
        self.sent = 0
        self.dropped = 0
        self.too_large = 0

    def put(self, note: WardNote) -> None:
        try:
            self._queue.put_nowait(note)
        except queue.Full:
            self.dropped += 1

    # AlertListener (service/alerts/center.py): this node's alert events go to every other node.
    def on_change(self, change: AlertEventMessage) -> None:
        self.put(AlertEventNote(origin=self.node_id, change=change))

    def on_trend(self, row: ScoreTrendRow) -> None:
        return None  # trend points are read from the shared database

    def _loop(self, connection: psycopg.Connection, stop: threading.Event) -> None:
        self.connected, self.last_error = True, None
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                note = self._queue.get(timeout=ROUND_S)
            except queue.Empty:
                continue
            payload = note.model_dump_json()
            if len(payload.encode()) > MAX_PAYLOAD_BYTES:
                self.too_large += 1
                logger.error("ward: a %s note of %d bytes is too large for NOTIFY; not sent", note.type, len(payload))
                continue
            connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            self.sent += 1


class Listener(_BusThread):
    def __init__(self, node_id: str, dsn: str, handle: Callable[[WardNote], None]) -> None:
        super().__init__("ward-listener", dsn)
        self.node_id = node_id
        self._handle = handle
        self.received = 0
        self.malformed = 0
        self.failed = 0

    def _loop(self, connection: psycopg.Connection, stop: threading.Event) -> None:
        connection.execute(f"LISTEN {CHANNEL}")
        self.connected, self.last_error = True, None
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            for notify in connection.notifies(timeout=ROUND_S):
                self.dispatch(notify.payload)
                if stop.is_set():
                    return

    def dispatch(self, payload: str) -> None:
        """One payload: parsed, and handed over unless it is this node's own. Never raises."""
        try:
            note = NOTE.validate_json(payload)
        except ValidationError as exc:
            self.malformed += 1
            logger.warning("ward: ignoring a malformed note (%d so far): %s", self.malformed, str(exc)[:300])
            return
        if note.origin == self.node_id:
            return
        self.received += 1
        try:
            self._handle(note)
        except Exception:
            self.failed += 1
            logger.exception("ward: handling a %s note from node %s failed", note.type, note.origin)
