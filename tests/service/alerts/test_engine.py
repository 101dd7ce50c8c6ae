"""The alert engine with a clock the test controls: every timer is checked one step before and at its edge."""

from __future__ import annotations

import pytest

from service.aggregation import Scale
from service.alerts import AlertEngine, AlertError, AlertKind, AlertParams, AlertStatus, EventType, Priority, Reading
from service.alerts.engine import Change
from service.alerts.models import Verdict

T0 = 1_000_000.0


def engine(scale: Scale = Scale.DAN, **params: float) -> AlertEngine:
    return AlertEngine({"b1": (scale, AlertParams(**params))})  # type: ignore[arg-type]


def feed(e: AlertEngine, start: float, end: float, score: int | None, state: str = "ok", low: bool = False) -> list:
    """One reading per second over [start, end] (seconds after T0); all changes."""
    changes: list[Change] = []
    t = start
    while t <= end:
        changes += e.observe(Reading("b1", T0 + t, state, score, low))
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
    t = engine(escalate_after_s=50, no_signal_after_s=30)
    opened = feed(t, 0, 30, None, state="no_signal")
    assert types(opened) == [("opened", "no_signal")] and opened[0].alert.priority is Priority.LOW  # type: ignore[union-attr]
    assert [c.event.details["to"] for c in t.tick(T0 + 80) if c.event.type is EventType.ESCALATED] == ["medium"]
    alert = t.active_alerts()[0]
    ack = t.acknowledge(alert, T0 + 81, "nurse-a", Verdict.UNSURE, "checked the camera")
    assert ack.event.type is EventType.ACKNOWLEDGED and ack.alert is not None
    assert ack.alert.status is AlertStatus.ACKNOWLEDGED and ack.alert.acknowledged_by == "nurse-a"
    assert ack.event.details == {"verdict": "unsure", "note": "checked the camera", "status": "acknowledged"}
    assert t.tick(T0 + 1000) == []
    with pytest.raises(AlertError):
        t.acknowledge(alert, T0 + 82, "nurse-b", Verdict.NOT_PAIN)


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
    paused = e.pause("b1", T0, minutes=2, reason="heel lance", user="nurse-a")
    assert paused.event.type is EventType.PAUSED and paused.event.details["until"] == T0 + 120
    assert feed(e, 0, 119, 4) == []  # painful procedure: nothing opens, nothing escalates
    changes = feed(e, 120, 120, 4)
    assert types(changes) == [("resumed", None)] and changes[0].event.details == {"automatic": True}
    assert e.paused_until("b1") == (None, None)
    assert feed(e, 121, 139, 4) == []  # minimum time counts from the resume
    assert types(feed(e, 140, 140, 4)) == [("opened", "pain_episode")]


def test_explicit_resume_and_pause_limit() -> None:
    e = engine(pause_max_minutes=60)
    change = e.pause("b1", T0, minutes=600, reason="x", user="u")
    assert change.event.details["minutes"] == 60
    resumed = e.resume("b1", T0 + 5, "u")
    assert resumed is not None and resumed.event.details == {"automatic": False} and resumed.event.user == "u"
    assert e.resume("b1", T0 + 6, "u") is None
    with pytest.raises(AlertError):
        e.pause("nope", T0, 1, "x", "u")


def test_restore_continues_an_open_alert() -> None:
    e = engine()
    opened = feed(e, 0, 20, 3)[0].alert
    assert opened is not None
    again = engine()
    again.restore([opened], {"b1": (T0 + 9999, "procedure")})
    assert again.active_alerts()[0].id == opened.id and again.paused_until("b1") == (T0 + 9999, "procedure")
    again.resume("b1", T0 + 21, "u")
    assert types(feed(again, 22, 82, 0)) == [("closed", "pain_episode")]


def test_disabled_bed_raises_nothing() -> None:
    e = engine(enabled=False)
    assert feed(e, 0, 300, 4) == [] and feed(e, 301, 400, None, state="no_signal") == []
    assert AlertKind.PAIN_EPISODE.value == "pain_episode"
