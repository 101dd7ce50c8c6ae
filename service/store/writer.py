"""The one thread that writes to the database, fed by a bounded queue: bed workers never wait on the disk.

Producers call `put` (never blocks). When the queue is full the item is dropped and counted per kind; alert
events are rare and the queue is large, so in practice only trend points could ever be lost. Each batch is one
transaction, committed before anything else happens, so an alert event is on disk within one batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from service.alerts.models import AlertEventMessage
from service.store.database import Store
from service.store.models import ScoreTrendRow, SnapshotRow

logger = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class AuditEntry:
    ts: float
    who: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)


WriteItem = AlertEventMessage | ScoreTrendRow | SnapshotRow | AuditEntry | threading.Event


class StoreWriter:
    def __init__(
        self,
        store: Store,
        queue_size: int = 10_000,
        tick_s: float = 1.0,
        on_tick: Callable[[], None] | None = None,
        purge: Callable[[], None] | None = None,
        purge_interval_s: float = 600.0,
    ) -> None:
        self.store = store
        self._queue: queue.Queue[WriteItem] = queue.Queue(maxsize=queue_size)
        self._tick_s = tick_s
        self.on_tick = on_tick
        """Called about every tick_s from the writer thread (the alert center's time-driven rules)."""
        self.purge = purge
        self._purge_interval_s = purge_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self.errors = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Write what is queued (within the timeout), then end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def put(self, item: WriteItem) -> bool:
        """Never blocks; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            kind = type(item).__name__
            self.dropped[kind] += 1
            logger.warning("store queue full: dropped a %s (%d dropped so far)", kind, sum(self.dropped.values()))
            return False

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued before this call is committed (API actions answer after it is stored)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        if not self.put(done):
            return False
        return done.wait(timeout_s)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        last_purge = 0.0
        while True:
            batch = self._next_batch()
            if batch:
                self._write(batch)
            if self._stop.is_set() and self._queue.empty():
                return
            if self.on_tick is not None:
                self._safely(self.on_tick)
            if self.purge is not None and time.monotonic() - last_purge >= self._purge_interval_s:
                last_purge = time.monotonic()
                self._safely(self.purge)

    def _next_batch(self) -> list[WriteItem]:
        try:
            batch = [self._queue.get(timeout=self._tick_s)]
        except queue.Empty:
            return []
        while len(batch) < _BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[WriteItem]) -> None:
        markers = [item for item in batch if isinstance(item, threading.Event)]
        try:
            with self.store.sessions.begin() as session:
                for item in batch:
                    self._write_one(session, item)
            self.written += len(batch) - len(markers)
        except Exception:
            self.errors += 1
            logger.exception("store: a batch of %d item(s) could not be written", len(batch) - len(markers))
        for marker in markers:
            marker.set()

    def _write_one(self, session: Session, item: WriteItem) -> None:
        if isinstance(item, AlertEventMessage):
            self.store.save_change(session, item.event, item.alert)
        elif isinstance(item, ScoreTrendRow):
            session.add(item)
        elif isinstance(item, SnapshotRow):
            session.merge(item)  # a provisional snapshot is replaced by a better or the final one
        elif isinstance(item, AuditEntry):
            self.store.audit(session, item.who, item.action, item.details, item.ts)

    @staticmethod
    def _safely(action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            logger.exception("store writer: periodic task failed")
