"""The running alert service: the pure engine behind a lock, fed by bed workers, persisted and pushed.

Bed workers call `observe` from their own threads: it runs the engine in memory (microseconds), hands changes
and 1 Hz trend points to the store writer's queue and the alert broadcaster, and returns; it never touches the
database. A periodic task calls `tick` (escalation, auto-resume, beds whose readings stopped).

Nurses' actions are different: `acknowledge`, `pause` and `resume` commit the event and its audit row to the
database before they return, and only then change the engine's memory and push the event. A database that is
down raises (the API answers 503) and leaves everything as it was; nothing claims to be stored that is not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from service.aggregation import Scale
from service.alerts.engine import Action, AlertEngine, AlertError, Change, Reading
from service.alerts.models import Alert, AlertKind, AlertsSnapshotMessage, BedAlertState, Verdict
from service.alerts.params import AlertParams
from service.clock import Clock, Instant, now
from service.pipeline.broadcaster import Broadcaster, Outgoing
from service.pipeline.messages import BedFrameMessage
from service.store.database import Store
from service.store.models import ScoreTrendRow
from service.store.writer import StoreWriter

logger = logging.getLogger(__name__)


class AlertNotFound(LookupError):
    pass


class AlertListener(Protocol):
    """Also told every change and every stored trend point (review snapshots); must not block."""

    def on_change(self, change: Change) -> None: ...

    def on_trend(self, row: ScoreTrendRow) -> None: ...


class AlertCenter:
    def __init__(
        self,
        beds: dict[str, tuple[Scale, AlertParams]],
        store: Store,
        writer: StoreWriter,
        broadcaster: Broadcaster,
        trend_hz: float = 1.0,
        clock: Clock = now,
        listeners: Sequence[AlertListener] = (),
    ) -> None:
        self.clock = clock
        self.engine = AlertEngine(beds, clock())
        self.store = store
        self.writer = writer
        self.broadcaster = broadcaster
        self._listeners = tuple(listeners)
        self._trend_period_s = 1.0 / trend_hz
        self._last_trend: dict[str, float] = {}
        self._lock = threading.Lock()
        """Guards the engine (held for microseconds, never across I/O)."""
        self._action_lock = threading.Lock()
        """One nurse action at a time, across its database write (the first verdict wins, in order)."""

    def restore(self) -> int:
        """Continue the alerts (and pauses) that were active when the service last stopped."""
        # node_down alerts belong to no engine: the ward's nodes raise and close them (service/ward/)
        alerts = [a for a in self.store.active_alerts() if a.kind is not AlertKind.NODE_DOWN]
        with self._lock:
            self.engine.restore(alerts, self.store.pauses(), self.clock())
        if alerts:
            logger.info("continuing %d active alert(s) from the store", len(alerts))
        return len(alerts)

    def start_watching(self) -> None:
        """The beds start now: a bed silent from here on becomes stale (not from when the center was built)."""
        with self._lock:
            self.engine.watch_from(self.clock())

    # -- from bed workers and the periodic tick ----------------------------------------------------------------
    def observe(self, message: BedFrameMessage) -> None:
        at = self.clock()
        reading = Reading(
            message.bed_id, at, message.state.value, message.estimated_score, message.low_evidence, message.state_reason
        )
        with self._lock:
            changes = self.engine.observe(reading)
        self._emit(changes)
        self._record_trend(message, at)

    def tick(self) -> None:
        with self._lock:
            changes = self.engine.tick(self.clock())
        self._emit(changes)

    # -- nurses' actions (committed before they return) --------------------------------------------------------
    def acknowledge(self, alert_id: str, user: str, verdict: Verdict, note: str | None) -> Alert:
        with self._action_lock:
            alert = self._current(alert_id)
            with self._lock:
                action = self.engine.acknowledge(alert, self.clock(), user, verdict, note)
            audit = (user, "alert.acknowledge", {"alert_id": alert_id, "verdict": verdict.value})
            already_by = self.store.acknowledge(action.change, audit)
            if already_by is not None:
                raise AlertError(f"alert {alert_id} was already acknowledged by {already_by}")
            self._commit(action)
        assert action.change.alert is not None
        return action.change.alert

    def pause(self, bed_id: str, minutes: float | None, reason: str, user: str) -> BedAlertState:
        with self._action_lock:
            with self._lock:
                action = self.engine.pause(bed_id, self.clock(), minutes, reason, user)
            details = {"bed_id": bed_id, **action.change.event.details}
            self.store.record_action(action.change, (user, "bed.pause", details))
            self._commit(action)
        return self.bed_state(bed_id)

    def resume(self, bed_id: str, user: str) -> BedAlertState:
        with self._action_lock:
            with self._lock:
                action = self.engine.resume(bed_id, self.clock(), user)
            if action is not None:
                self.store.record_action(action.change, (user, "bed.resume", {"bed_id": bed_id}))
                self._commit(action)
        return self.bed_state(bed_id)

    # -- reads -------------------------------------------------------------------------------------------------
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
        beds = [self.bed_state(b) for b in bed_ids]
        return AlertsSnapshotMessage(ts=self.clock().wall, alerts=alerts, beds=beds)

    # -- internals ---------------------------------------------------------------------------------------------
    def _current(self, alert_id: str) -> Alert:
        """The alert as it is now: the engine's copy while active, else the stored one (a closed alert's review)."""
        with self._lock:
            live = self.engine.find(alert_id)
            if live is not None:
                return live.model_copy()
        found = self.store.get_alert(alert_id)
        if found is None:
            raise AlertNotFound(f"unknown alert {alert_id!r}")
        return found[0]

    def _commit(self, action: Action) -> None:
        """The action is stored: make it true in memory, then tell everyone."""
        with self._lock:
            action.apply()
        self._publish(action.change)

    def _emit(self, changes: list[Change]) -> None:
        """The engine's own changes: queued for the store (clinical records, never shed), then pushed."""
        for change in changes:
            self.writer.put(change)
            self._publish(change)

    def _publish(self, change: Change) -> None:
        logger.info(
            "alert event %s on bed %s (%s)",
            change.event.type.value,
            change.event.bed_id,
            change.alert.kind.value if change.alert else "bed",
        )
        self.broadcaster.publish(Outgoing(change.model_dump_json()))
        for listener in self._listeners:
            listener.on_change(change)

    def _record_trend(self, message: BedFrameMessage, at: Instant) -> None:
        """At most one point per bed per trend period; recorded while paused too."""
        last = self._last_trend.get(message.bed_id)
        if last is not None and at.mono - last < self._trend_period_s:
            return
        self._last_trend[message.bed_id] = at.mono
        row = ScoreTrendRow(
            bed_id=message.bed_id,
            ts=at.wall,  # the stamp of the reading the engine saw: an alert opened by it starts at this point
            state=message.state.value,
            smoothed_probability=message.smoothed_probability,
            pain_fraction=message.pain_fraction,
            estimated_score=message.estimated_score,
            face_visible_share=message.face_visible_share,
            low_evidence=message.low_evidence,
        )
        self.writer.put(row)
        for listener in self._listeners:
            listener.on_trend(row)


__all__ = ["AlertCenter", "AlertError", "AlertListener", "AlertNotFound"]
