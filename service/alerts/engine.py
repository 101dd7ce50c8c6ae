"""The alert engine: pure and clock-injected (no threads, no I/O). Feed it each bed's readings, get events.

Each call returns the changes it caused (event + the alert after it); the caller stores and pushes them.
Rules (defaults in `params.py`):
- A pain episode opens when the estimated score stays >= enter for `open_after_s`, counted only on readings with
  enough face-visible evidence: a low-evidence or unknown reading restarts the count. It closes when the score
  stays < exit for `close_after_s`, again only on readings with evidence: not seeing the face is not calm.
- It becomes high priority when the top score persists `high_after_s`.
- Technical alerts (low priority) open when the bed stays in no_signal / no_face / model_error for the configured
  time, and close as soon as the bed leaves that state.
- An unacknowledged alert is raised one priority level every `escalate_after_s`.
- While a bed is paused no alert opens and none escalates (scores are still recorded by the caller); a pause
  ends by itself at its deadline. After a pause, minimum times count from the resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.aggregation import Scale
from service.alerts.models import (
    Alert,
    AlertEvent,
    AlertEventMessage,
    AlertKind,
    AlertStatus,
    EventType,
    Priority,
    Verdict,
)
from service.alerts.params import AlertParams

_TECHNICAL_STATES: dict[str, AlertKind] = {
    "no_signal": AlertKind.NO_SIGNAL,
    "no_face": AlertKind.NO_FACE,
    "model_error": AlertKind.MODEL_ERROR,
}


Change = AlertEventMessage
"""An event with the alert as it is after it (a copy): what the caller stores and pushes."""


class AlertError(Exception):
    """An action that cannot apply (unknown alert, already acknowledged, unknown bed)."""


@dataclass(frozen=True)
class Reading:
    """What the engine needs from one bed's window summary."""

    bed_id: str
    ts: float
    state: str
    estimated_score: int | None
    low_evidence: bool


@dataclass
class _BedTrack:
    scale: Scale
    params: AlertParams
    above_since: float | None = None
    top_since: float | None = None
    calm_since: float | None = None
    state: str | None = None
    state_since: float | None = None
    paused_until: float | None = None
    pause_reason: str | None = None
    alerts: dict[AlertKind, Alert] = field(default_factory=dict)


class AlertEngine:
    def __init__(self, beds: dict[str, tuple[Scale, AlertParams]]) -> None:
        self._beds = {bed_id: _BedTrack(scale, params) for bed_id, (scale, params) in beds.items()}

    # -- queries -----------------------------------------------------------------------------------------------
    def active_alerts(self, bed_id: str | None = None) -> list[Alert]:
        tracks = [self._track(bed_id)] if bed_id is not None else list(self._beds.values())
        alerts = [a for t in tracks for a in t.alerts.values()]
        return sorted(alerts, key=lambda a: a.opened_at)

    def find(self, alert_id: str) -> Alert | None:
        return next((a for t in self._beds.values() for a in t.alerts.values() if a.id == alert_id), None)

    def paused_until(self, bed_id: str) -> tuple[float | None, str | None]:
        track = self._track(bed_id)
        return track.paused_until, track.pause_reason

    @property
    def bed_ids(self) -> list[str]:
        return list(self._beds)

    # -- restart -----------------------------------------------------------------------------------------------
    def restore(self, alerts: list[Alert], pauses: dict[str, tuple[float, str | None]]) -> None:
        """Continue alerts (and pauses) that were active when the service stopped."""
        for alert in alerts:
            track = self._beds.get(alert.bed_id)
            if track is not None and alert.active:
                track.alerts[alert.kind] = alert
        for bed_id, (until, reason) in pauses.items():
            if bed_id in self._beds:
                self._beds[bed_id].paused_until, self._beds[bed_id].pause_reason = until, reason

    # -- readings and time -------------------------------------------------------------------------------------
    def observe(self, reading: Reading) -> list[Change]:
        track = self._track(reading.bed_id)
        events = self._auto_resume(reading.bed_id, track, reading.ts)
        self._update_timers(track, reading)
        if track.params.enabled:
            events += self._pain_rules(reading.bed_id, track, reading)
            events += self._technical_rules(reading.bed_id, track, reading)
        events += self._escalate(track, reading.ts)
        return events

    def tick(self, now: float) -> list[Change]:
        """Time-driven changes without a reading: auto-resume and escalation."""
        events: list[Change] = []
        for bed_id, track in self._beds.items():
            events += self._auto_resume(bed_id, track, now)
            events += self._escalate(track, now)
        return events

    # -- actions -----------------------------------------------------------------------------------------------
    def acknowledge(self, alert: Alert, now: float, user: str, verdict: Verdict, note: str | None = None) -> Change:
        """Acknowledge an active alert (it stops escalating), or give a verdict on a closed one (review)."""
        if alert.acknowledged_at is not None:
            raise AlertError(f"alert {alert.id} was already acknowledged by {alert.acknowledged_by}")
        alert.acknowledged_at, alert.acknowledged_by, alert.verdict, alert.note = now, user, verdict, note
        if alert.status is AlertStatus.OPEN:
            alert.status = AlertStatus.ACKNOWLEDGED
        alert.updated_at = now
        details = {"verdict": verdict.value, "note": note, "status": alert.status.value}
        return _event(EventType.ACKNOWLEDGED, now, alert.bed_id, alert, user=user, **details)

    def pause(self, bed_id: str, now: float, minutes: float | None, reason: str, user: str) -> Change:
        track = self._track(bed_id)
        limit = track.params.pause_max_minutes
        length = min(minutes if minutes is not None else track.params.pause_default_minutes, limit)
        track.paused_until, track.pause_reason = now + length * 60.0, reason
        return _event(
            EventType.PAUSED, now, bed_id, None, user=user, reason=reason, until=track.paused_until, minutes=length
        )

    def resume(self, bed_id: str, now: float, user: str | None) -> Change | None:
        """End a pause now; None when the bed was not paused."""
        track = self._track(bed_id)
        if track.paused_until is None:
            return None
        track.paused_until = track.pause_reason = None
        # Minimum times count from the resume: a condition seen during the pause must persist afterwards.
        track.above_since = _not_before(track.above_since, now)
        track.top_since = _not_before(track.top_since, now)
        track.state_since = _not_before(track.state_since, now)
        return _event(EventType.RESUMED, now, bed_id, None, user=user, automatic=user is None)

    # -- rules -------------------------------------------------------------------------------------------------
    def _track(self, bed_id: str) -> _BedTrack:
        track = self._beds.get(bed_id)
        if track is None:
            raise AlertError(f"unknown bed {bed_id!r}")
        return track

    def _auto_resume(self, bed_id: str, track: _BedTrack, now: float) -> list[Change]:
        if track.paused_until is not None and now >= track.paused_until:
            event = self.resume(bed_id, now, None)
            return [event] if event is not None else []
        return []

    @staticmethod
    def _update_timers(track: _BedTrack, reading: Reading) -> None:
        enter, exit_, top = track.params.levels(track.scale)
        score = None if reading.low_evidence else reading.estimated_score  # the evidence gate
        track.above_since = _since(track.above_since, score is not None and score >= enter, reading.ts)
        track.top_since = _since(track.top_since, score is not None and score >= top, reading.ts)
        track.calm_since = _since(track.calm_since, score is not None and score < exit_, reading.ts)
        if reading.state != track.state:
            track.state, track.state_since = reading.state, reading.ts

    def _pain_rules(self, bed_id: str, track: _BedTrack, reading: Reading) -> list[Change]:
        params, now = track.params, reading.ts
        episode = track.alerts.get(AlertKind.PAIN_EPISODE)
        if episode is None:
            if _held(track.above_since, now, params.open_after_s) and not _paused(track, now):
                episode = Alert(
                    bed_id=bed_id,
                    kind=AlertKind.PAIN_EPISODE,
                    priority=Priority.MEDIUM,
                    opened_at=now,
                    updated_at=now,
                    peak_score=reading.estimated_score,
                    reason=f"estimated {track.scale.value} facial score >= {params.levels(track.scale)[0]} "
                    f"for {params.open_after_s:g} s",
                )
                track.alerts[AlertKind.PAIN_EPISODE] = episode
                return [_event(EventType.OPENED, now, bed_id, episode, priority=episode.priority.value)]
            return []
        if not reading.low_evidence and reading.estimated_score is not None:
            episode.peak_score = max(episode.peak_score or 0, reading.estimated_score)
        if _held(track.calm_since, now, params.close_after_s):
            return [self._close(track, episode, now, f"score below exit for {params.close_after_s:g} s")]
        if (
            episode.priority is not Priority.HIGH
            and _held(track.top_since, now, params.high_after_s)
            and not _paused(track, now)
        ):
            return [_raise(episode, now, Priority.HIGH, "top score persisted")]
        return []

    def _technical_rules(self, bed_id: str, track: _BedTrack, reading: Reading) -> list[Change]:
        events: list[Change] = []
        now = reading.ts
        for state, kind in _TECHNICAL_STATES.items():
            alert = track.alerts.get(kind)
            if alert is not None and reading.state != state:
                events.append(self._close(track, alert, now, f"bed left {state}"))
            elif alert is None and reading.state == state and not _paused(track, now):
                after = _technical_delay(track.params, kind)
                if _held(track.state_since, now, after):
                    alert = Alert(
                        bed_id=bed_id,
                        kind=kind,
                        priority=Priority.LOW,
                        opened_at=now,
                        updated_at=now,
                        reason=f"{state} for more than {after:g} s",
                    )
                    track.alerts[kind] = alert
                    events.append(_event(EventType.OPENED, now, bed_id, alert, priority=alert.priority.value))
        return events

    @staticmethod
    def _close(track: _BedTrack, alert: Alert, now: float, reason: str) -> Change:
        alert.status, alert.closed_at, alert.updated_at = AlertStatus.CLOSED, now, now
        del track.alerts[alert.kind]
        return _event(EventType.CLOSED, now, alert.bed_id, alert, reason=reason)

    @staticmethod
    def _escalate(track: _BedTrack, now: float) -> list[Change]:
        if _paused(track, now):
            return []
        events = []
        for alert in track.alerts.values():
            if alert.status is not AlertStatus.OPEN or alert.priority is Priority.HIGH:
                continue
            last = alert.last_escalated_at if alert.last_escalated_at is not None else alert.opened_at
            if now - last >= track.params.escalate_after_s:
                events.append(_raise(alert, now, alert.priority.raised(), "not acknowledged"))
        return events


def _since(since: float | None, condition: bool, now: float) -> float | None:
    """Start of the current run of `condition` (None while it does not hold)."""
    if not condition:
        return None
    return since if since is not None else now


def _held(since: float | None, now: float, seconds: float) -> bool:
    return since is not None and now - since >= seconds


def _not_before(since: float | None, ts: float) -> float | None:
    return None if since is None else max(since, ts)


def _paused(track: _BedTrack, now: float) -> bool:
    return track.paused_until is not None and now < track.paused_until


def _technical_delay(params: AlertParams, kind: AlertKind) -> float:
    return {
        AlertKind.NO_SIGNAL: params.no_signal_after_s,
        AlertKind.NO_FACE: params.no_face_after_s,
        AlertKind.MODEL_ERROR: params.model_error_after_s,
    }[kind]


def _raise(alert: Alert, now: float, to: Priority, reason: str) -> Change:
    before = alert.priority
    alert.priority, alert.last_escalated_at, alert.updated_at = to, now, now
    details = {"reason": reason, "from": before.value, "to": to.value}
    return _event(EventType.ESCALATED, now, alert.bed_id, alert, **details)


def _event(
    kind: EventType, now: float, bed_id: str, alert: Alert | None, user: str | None = None, **details: object
) -> Change:
    event = AlertEvent(
        ts=now, type=kind, bed_id=bed_id, alert_id=alert.id if alert else None, user=user, details=dict(details)
    )
    return Change(event=event, alert=alert.model_copy() if alert is not None else None)
