"""The alert engine: pure and clock-injected (no threads, no I/O). Feed it each bed's readings, get events.

Each call returns the changes it caused (event + the alert after it); the caller stores and pushes them.
Every duration is measured on the monotonic clock (`Instant.mono`); wall-clock time (`Instant.wall`) only stamps
alerts and events, so an NTP step neither blocks nor fires an alert.
Rules (defaults in `params.py`):
- A pain episode opens when the estimated score stays >= enter for `open_after_s`, counted only on readings with
  enough face-visible evidence: a low-evidence or unknown reading restarts the count. It closes when the score
  stays < exit for `close_after_s`, again only on readings with evidence: not seeing the face is not calm.
- It becomes high priority when the top score persists `high_after_s`.
- Technical alerts (low priority) open when the bed has been in no_signal / no_face / model_error / stale for the
  configured time, where clear spells shorter than `technical_min_off_s` do not interrupt the count; they close
  once the condition has been clear for `technical_min_off_s` and the alert has been open `technical_min_on_s`.
  A bed whose readings stop altogether (its worker is dead or hung) is stale from its last reading.
- An unacknowledged alert is raised one priority level every `escalate_after_s`.
- While a bed is paused no alert opens and none escalates (scores are still recorded by the caller); a pause
  ends by itself at its deadline. After a pause, minimum times count from the resume.
- Nurses' actions (acknowledge, pause, resume) come back as an `Action`: the change to store, and `apply`, which
  changes the engine's memory only once the caller has stored it (a failed write leaves the engine as it was).
"""

from __future__ import annotations

from collections.abc import Callable
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
from service.clock import Instant

_TECHNICAL_STATES: dict[str, AlertKind] = {
    "no_signal": AlertKind.NO_SIGNAL,
    "no_face": AlertKind.NO_FACE,
    "model_error": AlertKind.MODEL_ERROR,
    "stale": AlertKind.STALE,
}


Change = AlertEventMessage
"""An event with the alert as it is after it (a copy): what the caller stores and pushes."""


class AlertError(Exception):
    """An action that cannot apply (unknown alert, already acknowledged, unknown bed)."""


@dataclass(frozen=True)
class Reading:
    """What the engine needs from one bed's window summary."""

    bed_id: str
    at: Instant
    state: str
    estimated_score: int | None
    low_evidence: bool
    reason: str | None = None
    """Why the bed is in its state (technical alerts quote it)."""


@dataclass(frozen=True)
class Action:
    """A nurse's action: `change` to store first, then `apply()` to make it true in the engine's memory."""

    change: Change
    apply: Callable[[], None]


@dataclass
class _Run:
    """One technical condition's current run: bad since when, and clear since when (bridging short clear spells)."""

    bad_since: float | None = None
    clear_since: float | None = None


@dataclass
class _BedTrack:
    scale: Scale
    params: AlertParams
    last_reading: float
    above_since: float | None = None
    top_since: float | None = None
    calm_since: float | None = None
    runs: dict[AlertKind, _Run] = field(default_factory=lambda: {kind: _Run() for kind in _TECHNICAL_STATES.values()})
    paused_until: float | None = None
    """Wall clock, for people; `pause_deadline` is what ends the pause."""
    pause_deadline: float | None = None
    pause_reason: str | None = None
    alerts: dict[AlertKind, Alert] = field(default_factory=dict)
    opened_mono: dict[str, float] = field(default_factory=dict)
    escalated_mono: dict[str, float] = field(default_factory=dict)


class AlertEngine:
    def __init__(self, beds: dict[str, tuple[Scale, AlertParams]], started: Instant) -> None:
        self._beds = {b: _BedTrack(scale, params, started.mono) for b, (scale, params) in beds.items()}

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
    def restore(self, alerts: list[Alert], pauses: dict[str, tuple[float, str | None]], now: Instant) -> None:
        """Continue alerts (and pauses) that were active when the service stopped."""
        for alert in alerts:
            track = self._beds.get(alert.bed_id)
            if track is not None and alert.active:
                track.alerts[alert.kind] = alert
                track.opened_mono[alert.id] = now.mono_of(alert.opened_at)
                if alert.last_escalated_at is not None:
                    track.escalated_mono[alert.id] = now.mono_of(alert.last_escalated_at)
        for bed_id, (until, reason) in pauses.items():
            if bed_id in self._beds:
                track = self._beds[bed_id]
                track.paused_until, track.pause_deadline, track.pause_reason = until, now.mono_of(until), reason

    def watch_from(self, now: Instant) -> None:
        """Readings are expected from now on (the beds have just started): silence counts from here."""
        for track in self._beds.values():
            track.last_reading = now.mono

    # -- readings and time -------------------------------------------------------------------------------------
    def observe(self, reading: Reading) -> list[Change]:
        track = self._track(reading.bed_id)
        now = reading.at
        events = self._auto_resume(reading.bed_id, track, now)
        track.last_reading = now.mono
        self._update_timers(track, reading)
        if track.params.enabled:
            events += self._pain_rules(reading.bed_id, track, reading)
            for state, kind in _TECHNICAL_STATES.items():
                bad = reading.state == state
                events += self._technical_rule(reading.bed_id, track, kind, bad, now, reading.reason)
        events += self._escalate(track, now)
        return events

    def tick(self, now: Instant) -> list[Change]:
        """Time-driven changes without a reading: auto-resume, escalation, and beds whose readings stopped."""
        events: list[Change] = []
        for bed_id, track in self._beds.items():
            events += self._auto_resume(bed_id, track, now)
            silent_s = now.mono - track.last_reading
            if track.params.enabled and silent_s >= track.params.stale_after_s:
                run = track.runs[AlertKind.STALE]
                run.bad_since = track.last_reading if run.bad_since is None else run.bad_since
                run.clear_since = None
                reason = f"no analysis result for {silent_s:.0f} s"
                events += self._technical_rule(bed_id, track, AlertKind.STALE, True, now, reason)
            events += self._escalate(track, now)
        return events

    # -- nurses' actions ---------------------------------------------------------------------------------------
    def acknowledge(self, alert: Alert, now: Instant, user: str, verdict: Verdict, note: str | None = None) -> Action:
        """Acknowledge an active alert (it stops escalating), or give a verdict on a closed one (review).

        `alert` is only read; `apply` updates the live alert (if it is still active) once the caller stored it."""
        if alert.acknowledged_at is not None:
            raise AlertError(f"alert {alert.id} was already acknowledged by {alert.acknowledged_by}")
        after = alert.model_copy()
        after.acknowledged_at, after.acknowledged_by, after.verdict, after.note = now.wall, user, verdict, note
        if after.status is AlertStatus.OPEN:
            after.status = AlertStatus.ACKNOWLEDGED
        after.updated_at = now.wall
        details = {"verdict": verdict.value, "note": note, "status": after.status.value}
        change = _event(EventType.ACKNOWLEDGED, now, after.bed_id, after, user=user, **details)

        def apply() -> None:
            live = self.find(alert.id)
            if live is None or live.acknowledged_at is not None:
                return  # closed meanwhile: the store holds the verdict, memory has nothing to update
            live.acknowledged_at, live.acknowledged_by, live.verdict, live.note = now.wall, user, verdict, note
            if live.status is AlertStatus.OPEN:
                live.status = AlertStatus.ACKNOWLEDGED
            live.updated_at = now.wall

        return Action(change, apply)

    def pause(self, bed_id: str, now: Instant, minutes: float | None, reason: str, user: str) -> Action:
        track = self._track(bed_id)
        limit = track.params.pause_max_minutes
        length = min(minutes if minutes is not None else track.params.pause_default_minutes, limit)
        until, deadline = now.wall + length * 60.0, now.mono + length * 60.0
        change = _event(EventType.PAUSED, now, bed_id, None, user=user, reason=reason, until=until, minutes=length)

        def apply() -> None:
            track.paused_until, track.pause_deadline, track.pause_reason = until, deadline, reason

        return Action(change, apply)

    def resume(self, bed_id: str, now: Instant, user: str) -> Action | None:
        """End a pause now; None when the bed is not paused."""
        track = self._track(bed_id)
        if track.paused_until is None:
            return None
        change = _event(EventType.RESUMED, now, bed_id, None, user=user, automatic=False)
        return Action(change, lambda: self._end_pause(track, now))

    # -- rules -------------------------------------------------------------------------------------------------
    def _track(self, bed_id: str) -> _BedTrack:
        track = self._beds.get(bed_id)
        if track is None:
            raise AlertError(f"unknown bed {bed_id!r}")
        return track

    def _auto_resume(self, bed_id: str, track: _BedTrack, now: Instant) -> list[Change]:
        if track.pause_deadline is not None and now.mono >= track.pause_deadline:
            self._end_pause(track, now)
            return [_event(EventType.RESUMED, now, bed_id, None, user=None, automatic=True)]
        return []

    @staticmethod
    def _end_pause(track: _BedTrack, now: Instant) -> None:
        track.paused_until = track.pause_deadline = track.pause_reason = None
        # Minimum times count from the resume: a condition seen during the pause must persist afterwards.
        track.above_since = _not_before(track.above_since, now.mono)
        track.top_since = _not_before(track.top_since, now.mono)
        for run in track.runs.values():
            run.bad_since = _not_before(run.bad_since, now.mono)

    @staticmethod
    def _update_timers(track: _BedTrack, reading: Reading) -> None:
        enter, exit_, top = track.params.levels(track.scale)
        score = None if reading.low_evidence else reading.estimated_score  # the evidence gate
        now = reading.at.mono
        track.above_since = _since(track.above_since, score is not None and score >= enter, now)
        track.top_since = _since(track.top_since, score is not None and score >= top, now)
        track.calm_since = _since(track.calm_since, score is not None and score < exit_, now)

    def _pain_rules(self, bed_id: str, track: _BedTrack, reading: Reading) -> list[Change]:
        params, now = track.params, reading.at
        episode = track.alerts.get(AlertKind.PAIN_EPISODE)
        if episode is None:
            if _held(track.above_since, now.mono, params.open_after_s) and not _paused(track, now):
                reason = (
                    f"estimated {track.scale.value} facial score >= {params.levels(track.scale)[0]} "
                    f"for {params.open_after_s:g} s"
                )
                episode = self._open(track, bed_id, AlertKind.PAIN_EPISODE, Priority.MEDIUM, now, reason)
                episode.peak_score = reading.estimated_score
                return [_event(EventType.OPENED, now, bed_id, episode, priority=episode.priority.value)]
            return []
        if not reading.low_evidence and reading.estimated_score is not None:
            episode.peak_score = max(episode.peak_score or 0, reading.estimated_score)
        if _held(track.calm_since, now.mono, params.close_after_s):
            return [self._close(track, episode, now, f"score below exit for {params.close_after_s:g} s")]
        if (
            episode.priority is not Priority.HIGH
            and _held(track.top_since, now.mono, params.high_after_s)
            and not _paused(track, now)
        ):
            return [self._raise(track, episode, now, Priority.HIGH, "top score persisted")]
        return []

    def _technical_rule(
        self, bed_id: str, track: _BedTrack, kind: AlertKind, bad: bool, now: Instant, reason: str | None
    ) -> list[Change]:
        params, run = track.params, track.runs[kind]
        if bad:
            run.clear_since = None
            run.bad_since = now.mono if run.bad_since is None else run.bad_since
        else:
            run.clear_since = now.mono if run.clear_since is None else run.clear_since
            if _held(run.clear_since, now.mono, params.technical_min_off_s):
                run.bad_since = None
        alert = track.alerts.get(kind)
        if alert is None:
            delay = _technical_delay(params, kind)
            if bad and _held(run.bad_since, now.mono, delay) and not _paused(track, now):
                text = f"{kind.value} for more than {delay:g} s" + (f": {reason}" if reason else "")
                alert = self._open(track, bed_id, kind, Priority.LOW, now, text)
                return [_event(EventType.OPENED, now, bed_id, alert, priority=alert.priority.value)]
            return []
        open_for = now.mono - track.opened_mono.get(alert.id, now.mono)
        if run.bad_since is None and open_for >= params.technical_min_on_s:
            clear_for = now.mono - (run.clear_since if run.clear_since is not None else now.mono)
            return [self._close(track, alert, now, f"{kind.value} clear for {clear_for:.0f} s")]
        return []

    @staticmethod
    def _open(track: _BedTrack, bed_id: str, kind: AlertKind, priority: Priority, now: Instant, reason: str) -> Alert:
        alert = Alert(
            bed_id=bed_id, kind=kind, priority=priority, opened_at=now.wall, updated_at=now.wall, reason=reason
        )
        track.alerts[kind] = alert
        track.opened_mono[alert.id] = now.mono
        return alert

    @staticmethod
    def _close(track: _BedTrack, alert: Alert, now: Instant, reason: str) -> Change:
        alert.status, alert.closed_at, alert.updated_at = AlertStatus.CLOSED, now.wall, now.wall
        del track.alerts[alert.kind]
        track.opened_mono.pop(alert.id, None)
        track.escalated_mono.pop(alert.id, None)
        return _event(EventType.CLOSED, now, alert.bed_id, alert, reason=reason)

    def _escalate(self, track: _BedTrack, now: Instant) -> list[Change]:
        if _paused(track, now):
            return []
        events = []
        for alert in list(track.alerts.values()):
            if alert.status is not AlertStatus.OPEN or alert.priority is Priority.HIGH:
                continue
            last = track.escalated_mono.get(alert.id, track.opened_mono.get(alert.id, now.mono))
            if now.mono - last >= track.params.escalate_after_s:
                events.append(self._raise(track, alert, now, alert.priority.raised(), "not acknowledged"))
        return events

    @staticmethod
    def _raise(track: _BedTrack, alert: Alert, now: Instant, to: Priority, reason: str) -> Change:
        before = alert.priority
        alert.priority, alert.last_escalated_at, alert.updated_at = to, now.wall, now.wall
        track.escalated_mono[alert.id] = now.mono
        details = {"reason": reason, "from": before.value, "to": to.value}
        return _event(EventType.ESCALATED, now, alert.bed_id, alert, **details)


def _since(since: float | None, condition: bool, now: float) -> float | None:
    """Start of the current run of `condition` (None while it does not hold)."""
    if not condition:
        return None
    return since if since is not None else now


def _held(since: float | None, now: float, seconds: float) -> bool:
    return since is not None and now - since >= seconds


def _not_before(since: float | None, ts: float) -> float | None:
    return None if since is None else max(since, ts)


def _paused(track: _BedTrack, now: Instant) -> bool:
    return track.pause_deadline is not None and now.mono < track.pause_deadline


def _technical_delay(params: AlertParams, kind: AlertKind) -> float:
    return {
        AlertKind.NO_SIGNAL: params.no_signal_after_s,
        AlertKind.NO_FACE: params.no_face_after_s,
        AlertKind.MODEL_ERROR: params.model_error_after_s,
        AlertKind.STALE: params.stale_after_s,
    }[kind]


def _event(
    kind: EventType, now: Instant, bed_id: str, alert: Alert | None, user: str | None = None, **details: object
) -> Change:
    event = AlertEvent(
        ts=now.wall, type=kind, bed_id=bed_id, alert_id=alert.id if alert else None, user=user, details=dict(details)
    )
    return Change(event=event, alert=alert.model_copy() if alert is not None else None)
