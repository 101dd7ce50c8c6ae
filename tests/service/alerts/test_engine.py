"""The alert engine with a clock the test controls: every timer is checked one step before and at its edge."""

from __future__ import annotations

import pytest

from service.aggregation import Scale
from service.alerts import AlertEngine, AlertError, AlertKind, AlertParams, AlertStatus, EventType, Priority, Reading
from service.alerts.engine import Change
from service.alerts.models import Verdict
from service.clock import Instant

T0 = 1_000_000.0


def at(t: float) -> Instant:
    """Both clocks at T0 + t (tests of clock steps move them apart)."""
    return Instant.at(T0 + t)


def engine(scale: Scale = Scale.DAN, **params: float) -> AlertEngine:
    return AlertEngine({"b1": (scale, AlertParams(**params))}, at(0))  # type: ignore[arg-type]


def feed(e: AlertEngine, start: float, end: float, score: int | None, state: str = "ok", low: bool = False) -> list:
    """One reading per second over [start, end] (seconds after T0); all changes."""
    changes: list[Change] = []
    t = start
    while t <= end:
        changes += e.observe(Reading("b1", at(t), state, score, low))
        t += 1.0
    return changes


def types(changes: list[Change]) -> list[tuple[str, str | None]]:
    return [(c.event.type.value, c.alert.kind.value if c.alert else None) for c in changes]


def test_defaults_per_scale() -> None:
    assert AlertParams().levels(Scale.DAN) == (3, 2, 4)
    assert AlertParams().levels(Scale.FLACC) == (2, 1, 2)
    assert AlertParams(enter_score=2).levels(Scale.DAN) == (2, 2, 4)


def test_episode_opens_after_minimum_time_at_enter_level() -> None:
    e = engine()
    assert feed(e, 0, 19, 3) == []  # 19 s at score 3: not yet
    changes = feed(e, 20, 20, 3)
    assert types(changes) == [("opened", "pain_episode")]
    alert = changes[0].alert
    assert alert is not None and alert.priority is Priority.MEDIUM and alert.opened_at == T0 + 20
    assert e.active_alerts("b1")[0].id == alert.id


def test_score_below_enter_restarts_the_opening_count() -> None:
    e = engine()
    feed(e, 0, 15, 3)
    feed(e, 16, 16, 2)  # one reading below enter
    assert feed(e, 17, 36, 3) == []  # 19 s since the restart
    assert types(feed(e, 37, 37, 3)) == [("opened", "pain_episode")]


def test_low_evidence_never_opens_an_episode() -> None:
    e = engine()
    assert feed(e, 0, 600, 4, low=True) == []
    assert e.active_alerts() == []


def test_hysteresis_between_exit_and_enter_keeps_the_episode_open() -> None:
    e = engine()
    feed(e, 0, 20, 3)
    assert feed(e, 21, 300, 2) == []  # 2 is below enter but not below exit (2): stays open
    assert len(e.active_alerts()) == 1


def test_episode_closes_after_minimum_calm_time_and_unknown_is_not_calm() -> None:
    e = engine()
    feed(e, 0, 20, 3)
    assert feed(e, 21, 80, 0) == []  # calm from 21: 59 s at 80
    assert feed(e, 81, 81, None, state="no_face") == []  # no face: calm count restarts
    assert feed(e, 82, 141, 0) == []  # 59 s of calm again
    changes = feed(e, 142, 142, 0)
    assert types(changes) == [("closed", "pain_episode")]
    assert changes[0].alert is not None and changes[0].alert.status is AlertStatus.CLOSED
    assert changes[0].alert.peak_score == 3 and changes[0].alert.closed_at == T0 + 142


def test_top_score_persisting_raises_to_high() -> None:
    e = engine(Scale.FLACC)  # FLACC: enter 2 = top 2
    assert types(feed(e, 0, 59, 2)) == [("opened", "pain_episode")]  # at 20 s, medium
    assert e.active_alerts()[0].priority is Priority.MEDIUM
    e2 = engine(Scale.FLACC)
    changes = feed(e2, 0, 60, 2)
    assert types(changes) == [("opened", "pain_episode"), ("escalated", "pain_episode")]
    assert changes[1].event.ts == T0 + 60 and changes[1].event.details == {
        "reason": "top score persisted",
        "from": "medium",
        "to": "high",
    }


def test_unacknowledged_alert_escalates_once_per_interval_and_ack_stops_it() -> None:
    e = engine(escalate_after_s=100, high_after_s=10_000)
    feed(e, 0, 20, 3)  # opened at 20
    assert feed(e, 21, 119, 3) == []
    changes = feed(e, 120, 120, 3)
    assert types(changes) == [("escalated", "pain_episode")]
    assert changes[0].event.details["to"] == "high"
    # a technical alert escalates low -> medium, then stops after acknowledgement
    t = engine(escalate_after_s=50, no_signal_after_s=30, stale_after_s=10_000)
    opened = feed(t, 0, 30, None, state="no_signal")
    assert types(opened) == [("opened", "no_signal")] and opened[0].alert.priority is Priority.LOW  # type: ignore[union-attr]
    assert [c.event.details["to"] for c in t.tick(at(80)) if c.event.type is EventType.ESCALATED] == ["medium"]
    alert = t.active_alerts()[0]
    action = t.acknowledge(alert, at(81), "nurse-a", Verdict.UNSURE, "checked the camera")
    assert t.active_alerts()[0].acknowledged_at is None  # nothing changes before the caller stored it
    action.apply()
    ack = action.change
    assert ack.event.type is EventType.ACKNOWLEDGED and ack.alert is not None
    assert ack.alert.status is AlertStatus.ACKNOWLEDGED and ack.alert.acknowledged_by == "nurse-a"
    assert ack.event.details == {"verdict": "unsure", "note": "checked the camera", "status": "acknowledged"}
    assert t.active_alerts()[0].status is AlertStatus.ACKNOWLEDGED
    assert t.tick(at(1000)) == []
    with pytest.raises(AlertError, match="already acknowledged by nurse-a"):
        t.acknowledge(t.active_alerts()[0], at(82), "nurse-b", Verdict.NOT_PAIN)


def test_technical_alerts_open_after_their_times_and_close_when_the_state_clears() -> None:
    e = engine(no_signal_after_s=30, no_face_after_s=120, model_error_after_s=10)
    assert feed(e, 0, 29, None, state="no_signal") == []
    assert types(feed(e, 30, 30, None, state="no_signal")) == [("opened", "no_signal")]
    changes = feed(e, 31, 151, None, state="no_face")
    assert types(changes) == [("closed", "no_signal"), ("opened", "no_face")]
    assert changes[1].event.ts == T0 + 151 and changes[1].alert.reason == "no_face for more than 120 s"  # type: ignore[union-attr]
    changes = feed(e, 152, 162, None, state="model_error")
    assert types(changes) == [("closed", "no_face"), ("opened", "model_error")]
    assert changes[1].event.ts == T0 + 162


def test_pause_blocks_opening_then_resumes_by_itself() -> None:
    e = engine()
    action = e.pause("b1", at(0), minutes=2, reason="heel lance", user="nurse-a")
    action.apply()
    paused = action.change
    assert paused.event.type is EventType.PAUSED and paused.event.details["until"] == T0 + 120
    assert feed(e, 0, 119, 4) == []  # painful procedure: nothing opens, nothing escalates
    changes = feed(e, 120, 120, 4)
    assert types(changes) == [("resumed", None)] and changes[0].event.details == {"automatic": True}
    assert e.paused_until("b1") == (None, None)
    assert feed(e, 121, 139, 4) == []  # minimum time counts from the resume
    assert types(feed(e, 140, 140, 4)) == [("opened", "pain_episode")]


def test_explicit_resume_and_pause_limit() -> None:
    e = engine(pause_max_minutes=60)
    pause = e.pause("b1", at(0), minutes=600, reason="x", user="u")
    assert pause.change.event.details["minutes"] == 60
    assert e.resume("b1", at(1), "u") is None  # the pause is not applied until stored
    pause.apply()
    resume = e.resume("b1", at(5), "u")
    assert resume is not None
    resumed = resume.change
    assert resumed.event.details == {"automatic": False} and resumed.event.user == "u"
    resume.apply()
    assert e.resume("b1", at(6), "u") is None
    with pytest.raises(AlertError, match="unknown bed 'nope'"):
        e.pause("nope", at(0), 1, "x", "u")


def test_restore_continues_an_open_alert() -> None:
    e = engine()
    opened = feed(e, 0, 20, 3)[0].alert
    assert opened is not None
    again = engine()
    again.restore([opened], {"b1": (T0 + 9999, "procedure")}, at(21))
    assert again.active_alerts()[0].id == opened.id and again.paused_until("b1") == (T0 + 9999, "procedure")
    resume = again.resume("b1", at(21), "u")
    assert resume is not None
    resume.apply()
    assert types(feed(again, 22, 82, 0)) == [("closed", "pain_episode")]


def test_disabled_bed_raises_nothing() -> None:
    e = engine(enabled=False)
    assert feed(e, 0, 300, 4) == [] and feed(e, 301, 400, None, state="no_signal") == []
    assert AlertKind.PAIN_EPISODE.value == "pain_episode"


def test_a_flickering_camera_gives_one_alert_not_fifty() -> None:
    """4 s dark, 1 s of picture, for 200 s: the short clear spells neither restart the count nor close it."""
    e = engine(no_signal_after_s=30, technical_min_off_s=10, technical_min_on_s=10)
    changes: list[Change] = []
    for t in range(200):
        changes += feed(e, t, t, None, state="no_signal" if t % 5 else "ok")
    assert types(changes) == [("opened", "no_signal")]
    assert changes[0].event.ts == T0 + 31  # dark most of the time since 1 s: the first dark reading after 30 s
    assert types(feed(e, 200, 209, 0)) == []  # clear for 9 s: still open
    closed = feed(e, 210, 210, 0)
    assert (
        types(closed) == [("closed", "no_signal")] and closed[0].event.details["reason"] == "no_signal clear for 10 s"
    )


def test_a_technical_alert_stays_open_its_minimum_time() -> None:
    e = engine(model_error_after_s=0, technical_min_on_s=30, technical_min_off_s=0)
    assert types(feed(e, 0, 0, None, state="model_error")) == [("opened", "model_error")]
    assert feed(e, 1, 29, 0) == []  # clear at once, but open for less than 30 s
    assert types(feed(e, 30, 30, 0)) == [("closed", "model_error")]


def test_a_silent_bed_becomes_stale_and_recovers() -> None:
    """No readings at all (a dead or hung worker): a `stale` alert from the timer, closed when readings return."""
    e = engine(stale_after_s=10, technical_min_off_s=5, technical_min_on_s=0)
    feed(e, 0, 3, 0)
    assert e.tick(at(12.9)) == []  # silent for 9.9 s
    opened = e.tick(at(13))
    assert types(opened) == [("opened", "stale")]
    assert (
        opened[0].alert is not None
        and opened[0].alert.reason == "stale for more than 10 s: no analysis result for 10 s"
    )
    assert e.tick(at(60)) == []  # one alert, however long the silence
    assert feed(e, 61, 65, 0) == []  # readings again, clear for 4 s
    assert types(feed(e, 66, 66, 0)) == [("closed", "stale")]


def test_stale_readings_quote_their_reason() -> None:
    e = engine(stale_after_s=2)
    changes = [
        c for t in range(4) for c in e.observe(Reading("b1", at(t), "stale", None, True, "analysis thread died"))
    ]
    assert types(changes) == [("opened", "stale")]
    assert changes[0].alert is not None and changes[0].alert.reason.endswith(": analysis thread died")


def test_a_wall_clock_step_back_neither_blocks_nor_fires_alerts() -> None:
    """NTP steps the wall clock back an hour mid-way: timers run on the monotonic clock, stamps on the wall."""
    e = engine()
    changes: list[Change] = []
    for t in range(25):
        wall = T0 + t - (3600 if t >= 10 else 0)
        changes += e.observe(Reading("b1", Instant(wall, T0 + t), "ok", 3, False))
    assert types(changes) == [("opened", "pain_episode")]
    assert changes[0].alert is not None and changes[0].alert.opened_at == T0 + 20 - 3600  # opened on time
    paused = e.pause("b1", Instant(T0, T0 + 100), minutes=1, reason="care", user="u")
    paused.apply()
    assert e.tick(Instant(T0 - 7200, T0 + 159)) == []  # the wall clock jumped back: the pause still runs by mono
    assert types(e.tick(Instant(T0 - 7200, T0 + 160))) == [("resumed", None)]


def test_an_acknowledgement_applied_after_its_alert_closed_does_not_reopen_it() -> None:
    e = engine(close_after_s=5)
    alert = feed(e, 0, 20, 3)[0].alert
    assert alert is not None
    action = e.acknowledge(alert, at(21), "nurse-a", Verdict.PAIN_CONFIRMED)
    assert types(feed(e, 21, 26, 0)) == [("closed", "pain_episode")]
    action.apply()  # stored while the episode closed: memory has nothing left to change
    assert e.active_alerts() == [] and e.find(alert.id) is None
