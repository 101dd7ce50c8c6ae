"""The store writer and the alert center over a real SQLite store: trend at 1 Hz, nurses' actions committed before
they return (first verdict wins, never un-closing), trend shed but clinical records never, a poison item retried
alone and dead-lettered, unwritten records dead-lettered at shutdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.aggregation import Scale
from service.alerts import AlertParams, Verdict
from service.alerts.center import AlertCenter
from service.alerts.engine import AlertError
from service.alerts.models import Alert, AlertEvent, AlertEventMessage, AlertKind, AlertStatus, EventType, Priority
from service.clock import Instant
from service.pipeline.broadcaster import Broadcaster
from service.pipeline.messages import BedFrameMessage, BedState
from service.store import Store
from service.store.models import ScoreTrendRow
from service.store.writer import DEAD_LETTER_FILE, AuditEntry, RetryPolicy, StoreWriter

FAST_RETRY = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.05)


def message(ts: float, score: int | None) -> BedFrameMessage:
    return BedFrameMessage(
        bed_id="b1", sequence=1, capture_ts=ts, published_ts=ts, state=BedState.OK, window_s=30.0,
        estimated_score=score, pain_fraction=0.9, scale=Scale.DAN, face_visible_share=1.0, low_evidence=False,
        latency_ms=1.0,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    opened.ensure_beds([("b1", "", "DAN")])
    yield opened
    opened.close()


def center_over(store: Store, writer: StoreWriter, now: list[float], **params: float) -> AlertCenter:
    beds = {"b1": (Scale.DAN, AlertParams(**params))}  # type: ignore[arg-type]
    return AlertCenter(beds, store, writer, Broadcaster("a"), clock=lambda: Instant.at(now[0]))


def trend_row(ts: float) -> ScoreTrendRow:
    return ScoreTrendRow(bed_id="b1", ts=ts, state="ok", face_visible_share=1.0, low_evidence=False)


def open_episode(center: AlertCenter, now: list[float]) -> Alert:
    for i in range(11):  # 5 s at 2 Hz, score 4
        now[0] = 1000.0 + i * 0.5
        center.observe(message(now[0], 4))
    (alert,) = center.active_for("b1")
    return alert


def test_center_persists_trend_and_events_and_commits_actions_before_returning(store: Store, tmp_path: Path) -> None:
    now = [1000.0]
    writer = StoreWriter(store, tmp_path, tick_s=0.05, retry=FAST_RETRY)
    center = center_over(store, writer, now, open_after_s=2)
    writer.start()
    try:
        alert = open_episode(center, now)
        assert writer.flush()
        assert [p.ts for p in store.trend("b1", 0)] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]
        (stored,) = store.active_alerts()
        assert stored.id == alert.id and stored.opened_at == 1002.0 and stored.peak_score == 4
        now[0] = 1006.0
        acked = center.acknowledge(alert.id, "nurse-a", Verdict.PAIN_CONFIRMED, "crying")
        # committed before acknowledge returned: read straight away, no flush
        row = store.get_alert(alert.id)
        assert row is not None and row[0].acknowledged_by == "nurse-a" and row[0].status is AlertStatus.ACKNOWLEDGED
        assert [e.type for e in row[1]] == [EventType.OPENED, EventType.ACKNOWLEDGED]
        assert acked.verdict is Verdict.PAIN_CONFIRMED and center.active_for("b1")[0].acknowledged_by == "nurse-a"
        center.pause("b1", 10, "procedure", "nurse-a")
        assert store.pauses() == {"b1": (1606.0, "procedure")}
        with pytest.raises(AlertError, match="already acknowledged by nurse-a"):
            center.acknowledge(alert.id, "nurse-b", Verdict.NOT_PAIN, None)
        assert [(a.who, a.action) for a in store.audit_entries()] == [
            ("nurse-a", "alert.acknowledge"),
            ("nurse-a", "bed.pause"),
        ]
        assert store.purge_trend(1003.0) == 3 and len(store.trend("b1", 0)) == 3
    finally:
        writer.stop()
    assert writer.outcomes[("alert_event", "written")] == 1 and writer.outcomes[("trend", "written")] == 6


def test_the_first_verdict_wins_in_the_database_and_an_ack_never_unclose(store: Store, tmp_path: Path) -> None:
    """Two services' worth of races, played against the store directly: the conditional update decides."""
    writer = StoreWriter(store, tmp_path, tick_s=0.05)
    now = [1000.0]
    center = center_over(store, writer, now, open_after_s=2, close_after_s=1)
    alert = open_episode(center, now)  # the opening is still queued: the writer is not running
    first = center.engine.acknowledge(alert, Instant.at(1006.0), "nurse-a", Verdict.PAIN_CONFIRMED)
    second = center.engine.acknowledge(alert, Instant.at(1006.1), "nurse-b", Verdict.NOT_PAIN)
    audit = ("x", "alert.acknowledge", {})
    assert store.acknowledge(first.change, audit) is None  # stored (the row comes with it)
    assert store.acknowledge(second.change, audit) == "nurse-a"  # refused: nurse-a was first
    # the close computed before the acknowledgement was stored is written after it: status closed, verdict kept
    for i in range(4):
        now[0] = 1006.5 + i * 0.5
        center.observe(message(now[0], 0))
    writer.start()
    try:
        assert writer.flush()
    finally:
        writer.stop()
    found = store.get_alert(alert.id)
    assert found is not None
    stored, events = found
    assert stored.status is AlertStatus.CLOSED and stored.closed_at is not None
    assert (stored.acknowledged_by, stored.verdict) == ("nurse-a", Verdict.PAIN_CONFIRMED)
    assert [e.type for e in events].count(EventType.ACKNOWLEDGED) == 1
    # a verdict on the closed alert afterwards is refused (already acknowledged) and leaves it closed
    late = center.engine.acknowledge(stored.model_copy(update={"acknowledged_at": None}), Instant.at(1100.0), "nurse-c",
                                     Verdict.UNSURE)  # fmt: skip
    assert store.acknowledge(late.change, audit) == "nurse-a"
    assert store.active_alerts() == []


def test_trend_points_are_shed_oldest_first_but_clinical_records_never(store: Store, tmp_path: Path) -> None:
    writer = StoreWriter(store, tmp_path, trend_queue=10)  # not started: nothing drains
    for i in range(15):
        writer.put(trend_row(float(i)))
    for i in range(40):
        writer.put(AuditEntry(float(i), "nurse-a", "bed.pause", {"i": i}))
    assert writer.outcomes[("trend", "shed")] == 5 and writer.outcomes[("audit", "shed")] == 0
    assert writer.depth_by_class() == {"clinical": 40, "trend": 10}
    writer.start()
    try:
        assert writer.flush()
    finally:
        writer.stop()
    assert [p.ts for p in store.trend("b1", 0)] == [float(i) for i in range(5, 15)]  # the newest ten
    assert len(store.audit_entries()) == 40


def test_a_poison_item_is_retried_alone_then_dead_lettered_and_its_batch_is_written(
    store: Store, tmp_path: Path
) -> None:
    writer = StoreWriter(store, tmp_path, tick_s=0.05, retry=FAST_RETRY)
    poison = AlertEventMessage(  # its bed does not exist: the foreign key refuses it, every time
        event=AlertEvent(ts=1.0, type=EventType.OPENED, bed_id="no-such-bed", alert_id=None), alert=None
    )
    writer.put(trend_row(1.0))
    writer.put(poison)
    writer.put(AuditEntry(2.0, "nurse-a", "bed.resume", {}))
    writer.start()
    try:
        assert writer.flush(10)
    finally:
        writer.stop()
    assert len(store.trend("b1", 0)) == 1 and [a.action for a in store.audit_entries()] == ["bed.resume"]
    assert writer.outcomes[("alert_event", "retried")] == 2 and writer.outcomes[("alert_event", "dead_lettered")] == 1
    (line,) = (tmp_path / DEAD_LETTER_FILE).read_text().splitlines()
    record = json.loads(line)
    assert record["kind"] == "alert_event" and record["attempts"] == 3 and "FOREIGN KEY" in record["error"]
    assert record["item"]["event"]["bed_id"] == "no-such-bed"
    assert writer.available  # the database was fine all along: only the item was bad


def test_records_still_unwritten_at_shutdown_go_to_the_dead_letter_file(store: Store, tmp_path: Path) -> None:
    writer = StoreWriter(store, tmp_path, tick_s=0.05, retry=RetryPolicy(attempts=100, initial_s=5, max_s=5))
    alert = Alert(bed_id="no-such-bed", kind=AlertKind.NO_FACE, priority=Priority.LOW, opened_at=1.0, updated_at=1.0)
    event = AlertEvent(ts=1.0, type=EventType.OPENED, bed_id="no-such-bed", alert_id=alert.id)
    writer.put(AlertEventMessage(event=event, alert=alert))
    writer.put(trend_row(3.0))
    writer.start()
    writer.stop(0.5)  # the poison item waits 5 s for its retry: shutdown comes first
    record = json.loads((tmp_path / DEAD_LETTER_FILE).read_text())
    assert record["error"] == "not written before shutdown" and record["item"]["alert"]["id"] == alert.id
    assert len(store.trend("b1", 0)) == 1  # the good item of its batch was written


def test_notes_past_their_retention_are_removed_and_verdicts_kept(store: Store, tmp_path: Path) -> None:
    writer = StoreWriter(store, tmp_path)
    now = [1000.0]
    center = center_over(store, writer, now, open_after_s=2, close_after_s=1)
    alert = open_episode(center, now)
    action = center.engine.acknowledge(alert, Instant.at(1006.0), "nurse-a", Verdict.PAIN_CONFIRMED, "baby Jane cried")
    assert store.acknowledge(action.change, ("nurse-a", "alert.acknowledge", {})) is None
    for i in range(4):  # calm: the episode closes
        now[0] = 1006.5 + i * 0.5
        center.observe(message(now[0], 0))
    writer.start()
    try:
        assert writer.flush()
    finally:
        writer.stop()
    assert store.purge_notes(1000.0) == 0  # closed after the cut-off: kept
    assert store.purge_notes(2000.0) == 1
    (kept,) = store.list_alerts()
    assert kept.note is None and kept.verdict is Verdict.PAIN_CONFIRMED and kept.acknowledged_by == "nurse-a"
