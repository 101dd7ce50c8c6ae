"""The alert center over a real SQLite store: trend at 1 Hz, events and audit committed, drops counted, purge."""

from __future__ import annotations

from pathlib import Path

from service.aggregation import Scale
from service.alerts import AlertParams, Verdict
from service.alerts.center import AlertCenter
from service.pipeline.broadcaster import Broadcaster
from service.pipeline.messages import BedFrameMessage, BedState
from service.store import Store
from service.store.models import ScoreTrendRow
from service.store.writer import StoreWriter


def message(ts: float, score: int | None) -> BedFrameMessage:
    return BedFrameMessage(
        bed_id="b1", sequence=1, capture_ts=ts, published_ts=ts, state=BedState.OK, window_s=30.0,
        estimated_score=score, pain_fraction=0.9, scale=Scale.DAN, face_visible_share=1.0, low_evidence=False,
        latency_ms=1.0,
    )  # fmt: skip


def test_center_persists_trend_events_and_audit(tmp_path: Path) -> None:
    now = [1000.0]
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    store.ensure_beds([("b1", "", "DAN")])
    writer = StoreWriter(store, queue_size=1000, tick_s=0.05)
    center = AlertCenter(
        {"b1": (Scale.DAN, AlertParams(open_after_s=2))}, store, writer, Broadcaster("a"), clock=lambda: now[0]
    )
    writer.on_tick = center.tick
    writer.start()
    try:
        for i in range(11):  # 5 s at 2 Hz
            center.observe(message(1000.0 + i * 0.5, 4))
        assert writer.flush()
        trend = store.trend("b1", 0)
        assert [p.ts for p in trend] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]
        (alert,) = store.active_alerts()
        assert alert.opened_at == 1002.0 and alert.peak_score == 4
        now[0] = 1006.0
        center.acknowledge(alert.id, "nurse-a", Verdict.PAIN_CONFIRMED, "crying")
        center.pause("b1", 10, "procedure", "nurse-a")
        assert writer.flush()
        assert store.pauses() == {"b1": (1606.0, "procedure")}
        assert [(a.who, a.action) for a in store.audit_entries()] == [
            ("nurse-a", "alert.acknowledge"),
            ("nurse-a", "bed.pause"),
        ]
        assert store.get_alert(alert.id)[1][-1].details["verdict"] == "pain_confirmed"  # type: ignore[index]
        assert store.purge_trend(1003.0) == 3 and len(store.trend("b1", 0)) == 3
    finally:
        writer.stop()
        store.close()


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    writer = StoreWriter(store, queue_size=10)  # not started: nothing drains
    row = ScoreTrendRow(bed_id="b1", ts=1.0, state="ok", face_visible_share=1.0, low_evidence=False)
    assert all(writer.put(row) for _ in range(10))
    assert writer.put(row) is False and writer.dropped == {"ScoreTrendRow": 1}
    assert writer.flush() is False  # no writer thread: says so instead of waiting
    store.close()
