"""The one thread that writes the service's own records to the database; bed workers never wait on the disk.

Producers call `put` (never blocks). Two classes of items:
- clinical records (alert events, audit rows, review-snapshot rows) are never shed: they wait, in order, until
  the database takes them. A batch that fails is retried; if the database itself is unreachable the whole queue
  waits (bounded backoff) and `available` turns false; if the database is fine but one item is refused, that item
  is retried on its own with bounded backoff, and after `retry_attempts` it goes to the dead-letter file with its
  error. One poison item never takes its batch with it.
- trend points (1 Hz scores) may be shed under pressure: beyond `trend_queue` the oldest are dropped.
Every write, shed, retry, failure and dead letter is counted per kind (`outcomes`, and Prometheus when given).

Nurses' actions (acknowledge, pause, resume, user changes) do not come through here: they are committed in the
request before the API answers (see `Store.acknowledge`, `Store.record_action`).

This thread is also the audit trail's one sealer: about once a second it hash-chains the audit rows added since
(service/store/audit.py), whoever added them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.alerts.models import AlertEventMessage
from service.metrics import ServiceMetrics
from service.store.audit import AuditSealer
from service.store.database import Store
from service.store.models import ScoreTrendRow, SnapshotRow
from service.supervision import HEALTHY, Health

logger = logging.getLogger(__name__)

_BATCH: Final = 500
_CLINICAL_LIMIT: Final = 100_000
"""Clinical records held in memory while the database is away; beyond it they go to the dead-letter file."""
_SEAL_EVERY_S: Final = 1.0
_PING_IDLE_S: Final = 5.0
"""An idle writer checks the database this often, so `available` is current even when nothing is written."""
DEAD_LETTER_FILE: Final = "store-dead-letter.jsonl"


@dataclass(frozen=True)
class AuditEntry:
    ts: float
    who: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)


WriteItem = AlertEventMessage | ScoreTrendRow | SnapshotRow | AuditEntry


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """Tries of one refused item before it goes to the dead-letter file."""
    initial_s: float = 0.5
    max_s: float = 5.0
    """Longest wait between tries (also while the database is unreachable, so recovery is seen quickly)."""

    def backoff(self, failures: int) -> float:
        return float(min(self.max_s, self.initial_s * 2 ** max(0, failures - 1)))


@dataclass
class _Pending:
    item: WriteItem
    seq: int
    attempts: int = 0
    not_before: float = 0.0

    @property
    def kind(self) -> str:
        return item_kind(self.item)


def item_kind(item: WriteItem) -> str:
    return {AlertEventMessage: "alert_event", ScoreTrendRow: "trend", SnapshotRow: "snapshot", AuditEntry: "audit"}[
        type(item)
    ]


class StoreWriter:
    def __init__(
        self,
        store: Store,
        dead_letter_dir: Path,
        trend_queue: int = 10_000,
        tick_s: float = 0.5,
        retry: RetryPolicy | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.store = store
        self.dead_letter_path = Path(dead_letter_dir) / DEAD_LETTER_FILE
        self._trend_limit = trend_queue
        self._tick_s = tick_s
        self._retry = retry or RetryPolicy()
        self._metrics = metrics
        self._clinical: deque[_Pending] = deque()
        self._trend: deque[_Pending] = deque()
        self._retrying: list[_Pending] = []
        self._cond = threading.Condition()
        self._unresolved: set[int] = set()
        self._next_seq = 0
        self._stop_deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._sealer = AuditSealer(store)
        self._last_seal = 0.0
        self._store_failures = 0
        self._store_retry_at = 0.0
        self._last_contact = time.monotonic()
        self.heartbeat = time.monotonic()
        self.available = True
        self.last_error: str | None = None
        self.outcomes: Counter[tuple[str, str]] = Counter()
        """(kind, outcome) -> count; outcome: written | shed | retried | dead_lettered."""

    # -- lifecycle (supervised) ------------------------------------------------------------------------------
    name = "store-writer"
    bed_id = None
    stall_after_s = 30.0
    """A round (one batch, or an idle wait) taking longer than this is a hung writer."""

    def start(self) -> None:
        with self._cond:
            self._stop_deadline = None
        self.heartbeat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def restart(self) -> None:
        """A new writing thread; a hung one bows out at its next round (the queues are shared and locked)."""
        self.start()

    def health(self, now_mono: float) -> Health:
        if not self.alive:
            return Health(False, "store writer thread is not running")
        if now_mono - self.heartbeat > self.stall_after_s:
            return Health(False, f"store writer stuck in one write for {now_mono - self.heartbeat:.0f} s")
        return HEALTHY

    def stop(self, timeout_s: float = 2.0) -> None:
        """Write what is queued within the timeout; clinical records still unwritten then go to the dead-letter
        file (never silently lost), trend points are shed."""
        with self._cond:
            self._stop_deadline = time.monotonic() + timeout_s
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s + 1.0)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- producers -------------------------------------------------------------------------------------------
    def put(self, item: WriteItem) -> None:
        """Never blocks. Trend points beyond the bound shed the oldest; clinical records beyond their (large)
        bound go straight to the dead-letter file."""
        with self._cond:
            pending = _Pending(item, self._next_seq)
            self._next_seq += 1
            if isinstance(item, ScoreTrendRow):
                self._trend.append(pending)
                self._unresolved.add(pending.seq)
                while len(self._trend) > self._trend_limit:
                    self._resolve(self._trend.popleft(), "shed")
            elif len(self._clinical) + len(self._retrying) >= _CLINICAL_LIMIT:
                self._dead_letter([pending], "the store has been unreachable too long: in-memory queue full")
            else:
                self._clinical.append(pending)
                self._unresolved.add(pending.seq)
            self._cond.notify_all()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything put before this call is written, shed or dead-lettered."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._next_seq
            while any(seq < target for seq in self._unresolved):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    @property
    def queue_depth(self) -> int:
        with self._cond:
            return len(self._clinical) + len(self._trend) + len(self._retrying)

    def depth_by_class(self) -> dict[str, int]:
        with self._cond:
            return {"clinical": len(self._clinical) + len(self._retrying), "trend": len(self._trend)}

    # -- the thread ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        me = threading.current_thread()
        while self._thread is me:  # a restarted writer's old thread bows out
            self.heartbeat = time.monotonic()
            batch = self._take()
            if batch:
                self._write(batch)
            elif time.monotonic() - self._last_contact >= _PING_IDLE_S:
                self._ping()
            if time.monotonic() - self._last_seal >= _SEAL_EVERY_S or self._stopping():
                self._seal_audit()
            if self._finished():
                return

    def _take(self) -> list[_Pending]:
        """Up to a batch of items that are due (clinical first), waiting at most one tick."""
        with self._cond:
            if not self._due_now():
                self._cond.wait(self._tick_s)
            now = time.monotonic()
            if now < self._store_retry_at and not self._stopping():
                return []
            batch = [p for p in self._retrying if p.not_before <= now][:_BATCH]
            taken = {p.seq for p in batch}
            self._retrying = [p for p in self._retrying if p.seq not in taken]
            for source in (self._clinical, self._trend):
                while source and len(batch) < _BATCH:
                    batch.append(source.popleft())
            return batch

    def _due_now(self) -> bool:
        now = time.monotonic()
        return bool(self._clinical or self._trend or any(p.not_before <= now for p in self._retrying))

    def _stopping(self) -> bool:
        return self._stop_deadline is not None

    def _finished(self) -> bool:
        with self._cond:
            if self._stop_deadline is None:
                return False
            empty = not (self._clinical or self._trend or self._retrying)
            if empty:
                return True
            if time.monotonic() < self._stop_deadline:
                return False
            left = [*self._retrying, *self._clinical]
            self._retrying.clear()
            self._clinical.clear()
            for pending in self._trend:
                self._resolve(pending, "shed")
            self._trend.clear()
        if left:
            self._dead_letter(left, "not written before shutdown")
        return True

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.store.sessions.begin() as session:
                for pending in batch:
                    self._write_one(session, pending.item)
        except Exception as exc:
            self._on_batch_failure(batch, exc)
            return
        self._store_ok()
        with self._cond:
            for pending in batch:
                self._resolve(pending, "written")

    def _on_batch_failure(self, batch: list[_Pending], exc: Exception) -> None:
        if not self._ping():
            # The database is away: keep everything, in order, and try again after a bounded backoff.
            self._store_failures += 1
            self._store_retry_at = time.monotonic() + self._retry.backoff(self._store_failures)
            with self._cond:
                self._requeue_front(batch)
            return
        logger.warning("store: a batch of %d item(s) was refused (%s); writing them one by one", len(batch), exc)
        for pending in batch:
            self._write_alone(pending)

    def _write_alone(self, pending: _Pending) -> None:
        try:
            with self.store.sessions.begin() as session:
                self._write_one(session, pending.item)
        except Exception as exc:
            pending.attempts += 1
            if pending.attempts >= self._retry.attempts:
                self._dead_letter([pending], _describe(exc))
                return
            pending.not_before = time.monotonic() + self._retry.backoff(pending.attempts)
            with self._cond:
                self.outcomes[(pending.kind, "retried")] += 1
                self._count(pending.kind, "retried")
                self._retrying.append(pending)
            return
        with self._cond:
            self._resolve(pending, "written")

    def _requeue_front(self, batch: list[_Pending]) -> None:
        for pending in reversed(batch):
            target = self._trend if isinstance(pending.item, ScoreTrendRow) else self._clinical
            target.appendleft(pending)
        while len(self._trend) > self._trend_limit:
            self._resolve(self._trend.pop(), "shed")

    def _seal_audit(self) -> None:
        self._last_seal = time.monotonic()
        if not self.available:
            return
        try:
            self._sealer.seal()
        except Exception:  # sealing waits for the next round; the rows are already stored
            logger.warning("audit rows could not be sealed this round", exc_info=True)

    def _ping(self) -> bool:
        try:
            with self.store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            if self.available:
                logger.error("store unavailable: %s", _describe(exc))
            self.available, self.last_error = False, _describe(exc)
            return False
        self._store_ok()
        return True

    def _store_ok(self) -> None:
        if not self.available:
            logger.warning("store available again")
        self.available, self.last_error = True, None
        self._store_failures, self._store_retry_at = 0, 0.0
        self._last_contact = time.monotonic()

    def _write_one(self, session: Session, item: WriteItem) -> None:
        if isinstance(item, AlertEventMessage):
            self.store.save_change(session, item.event, item.alert)
        elif isinstance(item, ScoreTrendRow):
            session.add(_fresh_trend_row(item))
        elif isinstance(item, SnapshotRow):
            session.merge(item)  # a provisional snapshot is replaced by a better or the final one
        else:
            self.store.audit(session, item.who, item.action, item.details, item.ts)

    # -- bookkeeping (callers hold self._cond, except _dead_letter) ---------------------------------------------
    def _resolve(self, pending: _Pending, outcome: str) -> None:
        self._unresolved.discard(pending.seq)
        self.outcomes[(pending.kind, outcome)] += 1
        self._count(pending.kind, outcome)
        self._cond.notify_all()

    def _count(self, kind: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.store_items.labels(kind, outcome).inc()

    def _dead_letter(self, items: list[_Pending], error: str) -> None:
        """Append the items with their error to the dead-letter file (one JSON line each), fsynced."""
        self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letter_path.open("a", encoding="utf-8") as handle:
            for pending in items:
                record = {"ts": time.time(), "kind": pending.kind, "attempts": pending.attempts, "error": error,
                          "item": _serialise(pending.item)}  # fmt: skip
                handle.write(json.dumps(record, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        logger.error(
            "store: %d item(s) written to the dead-letter file %s: %s", len(items), self.dead_letter_path, error
        )
        with self._cond:
            for pending in items:
                self._resolve(pending, "dead_lettered")


def _fresh_trend_row(row: ScoreTrendRow) -> ScoreTrendRow:
    """A new ORM object per try: a row added to a failed session cannot be added to the next one."""
    return ScoreTrendRow(**{c.name: getattr(row, c.name) for c in ScoreTrendRow.__table__.columns if c.name != "id"})


def _serialise(item: WriteItem) -> dict[str, Any]:
    if isinstance(item, AlertEventMessage):
        return item.model_dump(mode="json")
    if isinstance(item, AuditEntry):
        return dataclasses.asdict(item)
    return {c.name: getattr(item, c.name) for c in type(item).__table__.columns}


def _describe(exc: BaseException) -> str:
    """The database driver's own error when there is one (SQLAlchemy wraps it in advice), in one line."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0][:300] if lines else ''}"
