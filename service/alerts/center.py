"""The running alert service: the pure engine behind a lock, fed by bed workers, persisted and pushed.

Bed workers call `observe` from their own threads: it runs the engine in memory (microseconds), hands changes
and 1 Hz trend points to the store writer's bounded queue and the alert broadcaster, and returns; it never
touches the database. The writer thread calls `tick` about once a second (escalation, auto-resume).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from service.aggregation import Scale
from service.alerts.engine import AlertEngine, AlertError, Change, Reading
from service.alerts.models import Alert, AlertsSnapshotMessage, BedAlertState, Verdict
from service.alerts.params import AlertParams
from service.pipeline.broadcaster import Broadcaster, Outgoing
from service.pipeline.messages import BedFrameMessage
from service.store.database import Store
from service.store.models import ScoreTrendRow
from service.store.writer import AuditEntry, StoreWriter

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class AlertNotFound(LookupError):
    pass


class AlertCenter:
    def __init__(
        self,
        beds: dict[str, tuple[Scale, AlertParams]],
        store: Store,
        writer: StoreWriter,
        broadcaster: Broadcaster,
        trend_hz: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        self.engine = AlertEngine(beds)
        self.store = store
        self.writer = writer
        self.broadcaster = broadcaster
        self.clock = clock
        self._trend_period_s = 1.0 / trend_hz
        self._last_trend: dict[str, float] = {}
        self._lock = threading.Lock()
        self.on_change: Callable[[Change], None] | None = None
        """Also given every change (review snapshots); must not block."""
        self.on_trend: Callable[[ScoreTrendRow], None] | None = None
        """Also given every stored trend point (review snapshots); must not block."""

    def restore(self) -> int:
        """Continue the alerts (and pauses) that were active when the service last stopped."""
        alerts = self.store.active_alerts()
        with self._lock:
            self.engine.restore(alerts, self.store.pauses())
        if alerts:
            logger.info("continuing %d active alert(s) from the store", len(alerts))
        return len(alerts)

    # -- from bed workers and the writer's tick ----------------------------------------------------------------
    def observe(self, message: BedFrameMessage) -> None:
        reading = Reading(
            message.bed_id, message.published_ts, message.state.value, message.estimated_score, message.low_evidence
        )
        with self._lock:
            changes = self.engine.observe(reading)
        self._emit(changes)
        self._record_trend(message)

    def tick(self) -> None:
        with self._lock:
            changes = self.engine.tick(self.clock())
        self._emit(changes)

    # -- from the API ------------------------------------------------------------------------------------------
    def acknowledge(self, alert_id: str, user: str, verdict: Verdict, note: str | None) -> Alert:
        with self._lock:
            alert = self.engine.find(alert_id) or self._stored_closed_alert(alert_id)
            change = self.engine.acknowledge(alert, self.clock(), user, verdict, note)
        self._emit([change], audit=(user, "alert.acknowledge", {"alert_id": alert_id, "verdict": verdict.value}))
        assert change.alert is not None
        return change.alert

    def pause(self, bed_id: str, minutes: float | None, reason: str, user: str) -> BedAlertState:
        with self._lock:
            change = self.engine.pause(bed_id, self.clock(), minutes, reason, user)
        self._emit([change], audit=(user, "bed.pause", {"bed_id": bed_id, **change.event.details}))
        return self.bed_state(bed_id)

    def resume(self, bed_id: str, user: str) -> BedAlertState:
        with self._lock:
            change = self.engine.resume(bed_id, self.clock(), user)
        if change is not None:
            self._emit([change], audit=(user, "bed.resume", {"bed_id": bed_id}))
        return self.bed_state(bed_id)

    def active_for(self, bed_id: str) -> list[Alert]:
        with self._lock:
            return [a.model_copy() for a in self.engine.active_alerts(bed_id)]

    def bed_state(self, bed_id: str) -> BedAlertState:
        with self._lock:
            until, reason = self.engine.paused_until(bed_id)
        return BedAlertState(bed_id=bed_id, paused_until=until, pause_reason=reason)

    def snapshot(self) -> AlertsSnapshotMessage:
        with self._lock:
            alerts = [a.model_copy() for a in self.engine.active_alerts()]
            bed_ids = self.engine.bed_ids
        return AlertsSnapshotMessage(ts=self.clock(), alerts=alerts, beds=[self.bed_state(b) for b in bed_ids])

    # -- internals ---------------------------------------------------------------------------------------------
    def _stored_closed_alert(self, alert_id: str) -> Alert:
        found = self.store.get_alert(alert_id)
        if found is None:
            raise AlertNotFound(f"unknown alert {alert_id!r}")
        return found[0]

    def _emit(self, changes: list[Change], audit: tuple[str, str, dict[str, object]] | None = None) -> None:
        for change in changes:
            logger.info(
                "alert event %s on bed %s (%s)",
                change.event.type.value,
                change.event.bed_id,
                change.alert.kind.value if change.alert else "bed",
            )
            self.writer.put(change)
            self.broadcaster.publish(Outgoing(change.model_dump_json()))
            if self.on_change is not None:
                self.on_change(change)
        if audit is not None:
            who, action, details = audit
            self.writer.put(AuditEntry(self.clock(), who, action, dict(details)))

    def _record_trend(self, message: BedFrameMessage) -> None:
        """At most one point per bed per trend period; recorded while paused too."""
        last = self._last_trend.get(message.bed_id)
        if last is not None and message.published_ts - last < self._trend_period_s:
            return
        self._last_trend[message.bed_id] = message.published_ts
        row = ScoreTrendRow(
            bed_id=message.bed_id,
            ts=message.published_ts,
            state=message.state.value,
            smoothed_probability=message.smoothed_probability,
            pain_fraction=message.pain_fraction,
            estimated_score=message.estimated_score,
            face_visible_share=message.face_visible_share,
            low_evidence=message.low_evidence,
        )
        self.writer.put(row)
        if self.on_trend is not None:
            self.on_trend(row)


__all__ = ["AlertCenter", "AlertError", "AlertNotFound", "Clock"]
