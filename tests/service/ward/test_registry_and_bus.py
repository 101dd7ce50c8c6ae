"""The ward's database parts on a real PostgreSQL (no server processes): the bed registry refuses a bed owned by a
live node, takes over one of a dead node; several nodes racing to raise a node_down alert store exactly one; a
malformed NOTIFY payload is counted and ignored; the `node:` config is strict."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import update

from service.aggregation import Scale
from service.alerts.center import AlertCenter
from service.alerts.models import AlertKind, AlertStatus, EventType
from service.config import load_settings
from service.config.settings import settings_from_dict
from service.errors import UserError
from service.pipeline.broadcaster import Broadcaster
from service.pipeline.messages import BedState, BedSummary
from service.store.database import Store
from service.store.models import NodeRow
from service.store.writer import StoreWriter
from service.ward import registry
from service.ward.bus import Listener, Outbox, conninfo
from service.ward.messages import CHANNEL, BedSummaryNote, WardNote
from service.ward.node import WardNode, peer_tls
from service.ward.registry import BedClaimed
from service.ward.roles import Role, apply_role
from service.ward.settings import NodeConfig

BEDS_A = [("w1", "Cot 1", "DAN"), ("w2", "Cot 2", "DAN")]


@pytest.fixture(scope="module")
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store.open(postgres_url)
    yield opened
    opened.close()


def age_node(store: Store, node_id: str, seconds: float) -> None:
    """Make a node's heartbeat `seconds` old on the database clock (as if it had died then)."""
    with store.sessions.begin() as session:
        session.execute(
            update(NodeRow).where(NodeRow.id == node_id).values(heartbeat_at=registry.server_now() - seconds)
        )


def test_a_bed_of_a_live_node_is_refused_and_one_of_a_dead_node_taken_over(store: Store) -> None:
    registry.claim_beds(store, "reg-a", "http://a:1", BEDS_A, down_after_s=10)
    with pytest.raises(BedClaimed, match=r"bed 'w2' already belongs to node 'reg-a' \(http://a:1\)"):
        registry.claim_beds(store, "reg-b", "http://b:1", [("w2", "", "DAN"), ("w3", "", "DAN")], down_after_s=10)
    owners = {b.bed_id: b.node_id for b in registry.registered_beds(store)}
    assert owners["w1"] == owners["w2"] == "reg-a" and "w3" not in owners  # the refusal changed nothing

    registry.claim_beds(store, "reg-a", "http://a:1", BEDS_A, down_after_s=10)  # a restart keeps its beds
    age_node(store, "reg-a", 60)
    registry.claim_beds(store, "reg-b", "http://b:1", [("w2", "", "DAN")], down_after_s=10)
    owners = {b.bed_id: b.node_id for b in registry.registered_beds(store)}
    assert (owners["w1"], owners["w2"]) == ("reg-a", "reg-b")


def test_nodes_racing_to_raise_node_down_store_exactly_one_alert_and_one_close(store: Store) -> None:
    registry.claim_beds(store, "race-a", "http://race-a:1", [("r1", "", "DAN")], down_after_s=10)
    age_node(store, "race-a", 30)
    (bed,) = [b for b in registry.registered_beds(store) if b.bed_id == "r1"]
    assert bed.heartbeat_age_s >= 30

    results: list[object] = []
    barrier = threading.Barrier(6)

    def raise_it() -> None:
        barrier.wait()
        results.append(registry.raise_node_down(store, bed))

    threads = [threading.Thread(target=raise_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    raised = [r for r in results if r is not None]
    assert len(results) == 6 and len(raised) == 1
    active = [a for a in store.active_alerts() if a.bed_id == "r1"]
    assert [(a.kind, a.status) for a in active] == [(AlertKind.NODE_DOWN, AlertStatus.OPEN)]
    assert "node race-a (http://race-a:1) has not answered" in active[0].reason
    assert registry.raise_node_down(store, bed) is None  # later rounds: still one

    registry.heartbeat(store, "race-a")  # the node is back
    assert registry.close_node_down(store, ["r1"], min_on_s=3600) == []  # open for less than technical_min_on_s
    closes = [registry.close_node_down(store, ["r1"]) for _ in range(3)]
    assert [len(c) for c in closes] == [1, 0, 0]
    found = store.get_alert(active[0].id)
    assert found is not None
    alert, events = found
    assert alert.status is AlertStatus.CLOSED and [e.type for e in events] == [EventType.OPENED, EventType.CLOSED]


def test_a_malformed_notify_is_counted_and_ignored_and_the_listener_goes_on(postgres_url: str) -> None:
    handled: list[WardNote] = []
    got_one = threading.Event()

    def handle(note: WardNote) -> None:
        handled.append(note)
        got_one.set()

    listener = Listener("me", conninfo(postgres_url), handle)
    listener.start()
    try:
        deadline = time.monotonic() + 20
        while not listener.connected:
            assert time.monotonic() < deadline, listener.last_error
            time.sleep(0.05)
        summary = BedSummary(bed_id="x1", label="", scale=Scale.DAN, state=BedState.OK, node_id="other")
        good = BedSummaryNote(origin="other", summary=summary).model_dump_json()
        own = BedSummaryNote(origin="me", summary=summary).model_dump_json()
        with psycopg.connect(conninfo(postgres_url), autocommit=True) as connection:
            for payload in ("not json", '{"type": "bed", "origin": "other"}', '{"type": "launch"}', own, good):
                connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        assert got_one.wait(10)
        assert [n.origin for n in handled] == ["other"]
        assert listener.malformed == 3 and listener.received == 1
        assert listener.health(time.monotonic()).ok
    finally:
        listener.stop(2)


def test_node_config_is_strict_and_needs_postgresql(tmp_path: Path) -> None:
    config = tmp_path / "ward.yaml"
    config.write_text(
        "beds: []\nstore: {url: 'postgresql+psycopg://u@h/db'}\n"
        "node: {id: a, advertise_url: 'http://a', heartbeat_sec: 1}\n"
    )
    with pytest.raises(UserError, match=r"ward.yaml:3: node.heartbeat_sec: unknown key.*heartbeat_s"):
        load_settings(config)
    bed = {"id": "b1", "scale": "DAN", "source": {"type": "video", "path": "/x.mp4"}}
    pg = {"url": "postgresql+psycopg://u@h/db"}
    with pytest.raises(ValueError, match="give at least one bed"):
        settings_from_dict({"beds": []})
    with pytest.raises(ValueError, match="node: a ward of several nodes shares one PostgreSQL database"):
        settings_from_dict({"beds": [bed], "node": {"id": "a", "advertise_url": "http://a:1"}})
    with pytest.raises(ValueError, match="advertise_url"):
        settings_from_dict({"beds": [bed], "store": pg, "node": {"id": "a", "advertise_url": "a:1"}})
    view = settings_from_dict({"beds": [], "store": pg, "node": {"id": "ward-1", "advertise_url": "http://w:8000/"}})
    assert view.node is not None and view.node.advertise_url == "http://w:8000" and view.node.down_after_s == 10
    config.write_text(
        f"beds: []\nstore: {{url: '{pg['url']}'}}\nnode: {{id: a, advertise_url: 'https://a', peer_ca_file: ca.pem}}\n"
    )
    node = load_settings(config).node
    assert node is not None and node.peer_ca_file == tmp_path / "ca.pem"  # relative to the config's folder
    with pytest.raises(UserError, match=r"node.peer_ca_file: cannot use .*ca.pem as CA bundle"):
        peer_tls(node)


def test_role_ward_drops_the_beds_and_needs_a_node_section() -> None:
    bed = {"id": "b1", "scale": "DAN", "source": {"type": "video", "path": "/x.mp4"}}
    single = settings_from_dict({"beds": [bed]})
    with pytest.raises(UserError, match="--role ward: the config has no `node:` section"):
        apply_role(single, Role.WARD)
    assert apply_role(single, Role.NODE) is single
    pg = {"url": "postgresql+psycopg://u@h/db"}
    node = settings_from_dict({"beds": [bed], "store": pg, "node": {"id": "c", "advertise_url": "http://c:1"}})
    assert apply_role(node, Role.WARD).beds == [] and node.beds[0].id == "b1"


def test_a_remote_bed_is_live_then_stale_then_node_down_and_never_shows_an_old_score(
    store: Store, postgres_url: str, tmp_path: Path
) -> None:
    """What a node shows of another node's bed, from its real registry and notes (no processes, no threads)."""
    registry.claim_beds(store, "far", "http://far:1", [("s1", "Cot s1", "DAN")], down_after_s=10)
    alerts = AlertCenter({}, store, StoreWriter(store, tmp_path), Broadcaster("alerts"))
    config = NodeConfig(id="near", advertise_url="http://near:1", remote_stale_after_s=0.3)
    node = WardNode(config, store, Outbox("near", conninfo(postgres_url)), conninfo(postgres_url), [], alerts, 2.0)

    node.watch()
    (before,) = [s for s in node.remote_summaries() if s.bed_id == "s1"]
    assert (before.state, before.state_reason) == (BedState.STALE, "no summary from node far yet")

    scored = BedSummary(bed_id="s1", label="Cot s1", scale=Scale.DAN, state=BedState.OK, estimated_score=3,
                        pain_probability=0.9, last_update_ts=time.time(), node_id="far")  # fmt: skip
    node.handle(BedSummaryNote(origin="far", summary=scored))
    (live,) = [s for s in node.remote_summaries() if s.bed_id == "s1"]
    assert live.state is BedState.OK and live.estimated_score == 3

    wait_for_state(node, "s1", BedState.STALE)  # no summary for remote_stale_after_s
    (stale,) = [s for s in node.remote_summaries() if s.bed_id == "s1"]
    assert stale.estimated_score is None and stale.pain_probability is None  # unknown, never the old score
    assert stale.state_reason is not None and "the last summary from node far is" in stale.state_reason

    age_node(store, "far", 60)
    node.watch()  # this node raises the node_down alert and shows it
    (down,) = [s for s in node.remote_summaries() if s.bed_id == "s1"]
    assert down.state is BedState.NODE_DOWN and down.estimated_score is None and down.node_id == "far"
    assert [a.kind for a in down.active_alerts] == [AlertKind.NODE_DOWN]
    assert alerts.broadcaster.published >= 1  # shown on this node (w1 of the dead reg-a above too)

    registry.heartbeat(store, "far")  # back, but not yet for technical_min_off_s (10 s by default)
    node.watch()
    (back,) = [s for s in node.remote_summaries() if s.bed_id == "s1"]
    assert back.state is BedState.STALE  # its node is up, no summary from it yet: still unknown
    assert [a.kind for a in store.active_alerts() if a.bed_id == "s1"] == [AlertKind.NODE_DOWN]


def wait_for_state(node: WardNode, bed_id: str, state: BedState, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(s.bed_id == bed_id and s.state is state for s in node.remote_summaries()):
        assert time.monotonic() < deadline, f"{bed_id} never became {state}"
        time.sleep(0.05)


def test_a_node_id_in_use_by_a_running_process_is_refused_and_a_dead_ones_is_waited_for(store: Store) -> None:
    registry.claim_beds(store, "twin", "http://twin:1", [], down_after_s=1, instance="first")
    running = threading.Event()

    def beat() -> None:
        while not running.wait(0.1):
            registry.heartbeat(store, "twin")

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        with pytest.raises(UserError, match="node.id: 'twin' is in use by another running painwatch serve"):
            registry.ensure_node_id_free(store, "twin", down_after_s=1, poll_s=0.2)
    finally:
        running.set()
        beating.join()
    registry.heartbeat(store, "twin")  # then killed: the heartbeat stands still and ages past down_after_s
    registry.ensure_node_id_free(store, "twin", down_after_s=1, poll_s=0.2)
    seen = registry.registered_beds(store)  # nothing was claimed or changed by waiting
    assert all(b.node_id != "twin" for b in seen)

    registry.claim_beds(store, "twin", "http://twin:1", [], down_after_s=1, instance="second")
    registry.release_node(store, "twin", "second")  # a clean stop frees the id at once
    started = time.monotonic()
    registry.ensure_node_id_free(store, "twin", down_after_s=60, poll_s=0.2)
    assert time.monotonic() - started < 30  # not waited for (a generous bound: never the 60 s of a dead node)
