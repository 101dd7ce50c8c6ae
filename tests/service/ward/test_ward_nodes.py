"""One ward: several real `painwatch serve` processes on loopback sharing one real PostgreSQL
(tests/support/postgres.py). Node A (beds a1, a2) and node B (beds b1, b2) capture video beds; node C runs
`painwatch serve --role ward` (a view-only ward station: the bed in its config is ignored).

Shown here, over real HTTP and real WebSocket clients (`websockets`): a token from A works on C; C's ward view lists
the beds of A and B with live updates; an acknowledgement made on C is applied by A's alert engine (once) and
reaches B's alert stream; a pause made on C is applied by A; C proxies a1's live Grad-CAM stream from A; a fourth
node configured with bed a1 refuses to start; `kill -9` of B turns b1 and b2 `node_down` on A and C with exactly
one technical alert per bed; B restarted resumes them and the alerts close.

The nodes are started once for the module (the tests run in file order and share them).
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.service.conftest import ServedProcess
from tests.support.network import wait_for
from tests.support.ward import ADMIN_PASSWORD, DOWN_AFTER_S, Ward, start_ward

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ward(postgres_url: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    layout = {"node-a": ["a1", "a2"], "node-b": ["b1", "b2"], "node-c": ["c1"]}  # C: `serve --role ward` ignores c1
    with start_ward(postgres_url, model_dir, tmp_path_factory.mktemp("ward"), layout, {"node-c": "ward"}) as ward:
        yield ward


def bearer(ward: Ward, node: str) -> dict[str, str]:
    return ward.nodes[node].login("admin", ADMIN_PASSWORD)


def ws_url(served: ServedProcess, path: str) -> str:
    return f"ws://127.0.0.1:{served.port}{path}"


async def summaries_until(
    served: ServedProcess, headers: dict[str, str], done: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Read /ws/beds summaries until `done(message)`; returns every message read."""
    seen: list[dict[str, Any]] = []
    async with websockets.connect(ws_url(served, "/ws/beds"), additional_headers=headers) as ws:
        async with asyncio.timeout(timeout_s):
            while True:
                message = json.loads(await ws.recv())
                seen.append(message)
                if done(message):
                    return seen


def beds_of(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["bed_id"]: b for b in message["beds"]}


def test_a_token_from_node_a_works_on_node_c_and_a_logout_on_c_ends_it_on_a(ward: Ward) -> None:
    headers = bearer(ward, "node-a")
    a, c = ward.nodes["node-a"].base, ward.nodes["node-c"].base
    me = httpx.get(f"{c}/api/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["name"] == "admin"
    assert httpx.post(f"{c}/api/auth/logout", headers=headers).status_code in (200, 204)
    assert httpx.get(f"{a}/api/auth/me", headers=headers).status_code == 401


def test_the_ward_view_on_c_lists_the_beds_of_a_and_b_live(ward: Ward) -> None:
    served, headers = ward.nodes["node-c"], bearer(ward, "node-c")
    live = {"ok", "no_face"}

    def all_live(message: dict[str, Any]) -> bool:
        beds = beds_of(message)
        return {"a1", "a2", "b1"} <= set(beds) and all(beds[b]["state"] in live for b in ("a1", "a2", "b1"))

    seen = asyncio.run(summaries_until(served, headers, all_live))
    beds = beds_of(seen[-1])
    assert (beds["a1"]["node_id"], beds["a2"]["node_id"], beds["b1"]["node_id"]) == ("node-a", "node-a", "node-b")
    assert beds["a1"]["label"] == "Cot a1" and beds["a1"]["scale"] == "DAN"
    # live: b1's analysis time moves on between summaries seen on C
    first = beds["b1"]["last_update_ts"]

    def b1_moved_on(message: dict[str, Any]) -> bool:
        bed = beds_of(message).get("b1")
        return bed is not None and bed["last_update_ts"] is not None and bed["last_update_ts"] > first

    asyncio.run(summaries_until(served, headers, b1_moved_on, timeout_s=15))
    listed = httpx.get(f"{served.base}/api/beds", headers=headers).json()
    by_id = {r["summary"]["bed_id"]: r for r in listed}
    assert set(by_id) == {"a1", "a2", "b1", "b2"}  # C runs `--role ward`: the c1 of its config is not monitored
    assert by_id["b1"]["source"] is None and by_id["b1"]["summary"]["node_id"] == "node-b"  # remote: no counters
    trend = httpx.get(f"{served.base}/api/beds/a1/trend", params={"minutes": 5}, headers=headers)
    assert trend.status_code == 200 and trend.json(), trend.text  # the shared database's trend of A's bed


def open_episode(ward: Ward, headers: dict[str, str], bed: str) -> dict[str, Any]:
    c = ward.nodes["node-c"].base

    def found() -> list[dict[str, Any]]:
        listed = httpx.get(f"{c}/api/alerts", params={"status": "open", "bed": bed}, headers=headers).json()
        return [a for a in listed if a["kind"] == "pain_episode"]

    (episode,) = wait_for(f"a pain episode on {bed}", found)
    return episode


async def alert_events_until(
    served: ServedProcess, headers: dict[str, str], started: asyncio.Event, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async with websockets.connect(ws_url(served, "/ws/alerts"), additional_headers=headers) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "alerts_snapshot"
        started.set()
        async with asyncio.timeout(30):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "alert_event" and done(message):
                    return message


def test_an_ack_made_on_c_is_applied_by_a_once_and_reaches_b(ward: Ward) -> None:
    headers = bearer(ward, "node-c")
    a, c = ward.nodes["node-a"].base, ward.nodes["node-c"].base
    episode = open_episode(ward, headers, "a1")
    ack = {"verdict": "pain_confirmed", "note": "grimace, acknowledged at the ward station"}

    async def ack_while_b_listens() -> tuple[httpx.Response, dict[str, Any]]:
        started = asyncio.Event()
        on_b = asyncio.create_task(
            alert_events_until(
                ward.nodes["node-b"], headers, started,
                lambda m: m["event"]["type"] == "acknowledged" and m["event"]["alert_id"] == episode["id"],
            )
        )  # fmt: skip
        await asyncio.wait_for(started.wait(), 20)
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{c}/api/alerts/{episode['id']}/ack", json=ack, headers=headers, timeout=20)
        return answer, await on_b

    answer, seen_on_b = asyncio.run(ack_while_b_listens())
    assert answer.status_code == 200, answer.text
    assert answer.json()["acknowledged_by"] == "admin" and answer.json()["status"] == "acknowledged"
    assert seen_on_b["alert"]["verdict"] == "pain_confirmed"
    # A's alert engine holds it acknowledged (its own summary of a1 is built from its engine's memory)
    a_summary = httpx.get(f"{a}/api/beds/a1", headers=headers).json()["summary"]
    (live,) = [x for x in a_summary["active_alerts"] if x["id"] == episode["id"]]
    assert live["status"] == "acknowledged" and live["acknowledged_by"] == "admin"
    events = httpx.get(f"{c}/api/alerts/{episode['id']}", headers=headers).json()["events"]
    assert [e["type"] for e in events].count("acknowledged") == 1
    again = httpx.post(f"{c}/api/alerts/{episode['id']}/ack", json=ack, headers=headers, timeout=20)
    assert again.status_code == 409 and "already acknowledged by admin" in again.json()["detail"]


def test_a_pause_made_on_c_is_applied_by_a_and_resumed_from_c(ward: Ward) -> None:
    headers = bearer(ward, "node-c")
    a, c = ward.nodes["node-a"].base, ward.nodes["node-c"].base
    paused = httpx.post(
        f"{c}/api/beds/a2/pause", json={"reason": "heel lance", "minutes": 5}, headers=headers, timeout=20
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["pause_reason"] == "heel lance"
    assert httpx.get(f"{a}/api/beds/a2", headers=headers).json()["summary"]["alerts_paused_until"] is not None
    resumed = httpx.post(f"{c}/api/beds/a2/resume", headers=headers, timeout=20)
    assert resumed.status_code == 200 and resumed.json()["paused_until"] is None
    assert httpx.get(f"{a}/api/beds/a2", headers=headers).json()["summary"]["alerts_paused_until"] is None
    unknown = httpx.post(f"{c}/api/beds/nope/resume", headers=headers)
    assert unknown.status_code == 404


def test_c_proxies_the_live_gradcam_stream_of_a_bed_of_a(ward: Ward) -> None:
    served, headers = ward.nodes["node-c"], bearer(ward, "node-c")

    async def first_frame_with_heatmap() -> tuple[dict[str, Any], bytes]:
        async with websockets.connect(ws_url(served, "/ws/beds/a1"), additional_headers=headers) as ws:
            async with asyncio.timeout(30):
                while True:
                    message = await ws.recv()
                    assert isinstance(message, str)
                    frame = json.loads(message)
                    if frame["heatmap_follows"]:
                        jpeg = await ws.recv()
                        assert isinstance(jpeg, bytes)
                        return frame, jpeg

    frame, jpeg = asyncio.run(first_frame_with_heatmap())
    assert frame["bed_id"] == "a1" and frame["state"] == "ok" and jpeg[:2] == b"\xff\xd8"

    async def refused_without_login() -> int | None:
        async with websockets.connect(ws_url(served, "/ws/beds/a1")) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(refused_without_login()) == 1008


def test_a_node_configured_with_a_bed_of_a_live_node_refuses_to_start(ward: Ward) -> None:
    process = ward.launch("node-d", ["a1"])
    assert process.wait(120) == 2
    output = ward.nodes["node-d"].output()
    assert "bed 'a1' already belongs to node 'node-a'" in output and "Give this bed another id" in output


def test_a_second_process_with_the_node_id_of_a_running_node_refuses_to_start(ward: Ward) -> None:
    process = ward.launch("node-a-twin", ["a9"], node_id="node-a")
    assert process.wait(120) == 2
    output = ward.nodes["node-a-twin"].output()
    assert "node.id: 'node-a' is in use by another running painwatch serve" in output


B_BEDS = ("b1", "b2")


def node_down_alerts(ward: Ward, node: str, headers: dict[str, str], bed: str, status: str | None = None) -> list[dict]:
    params = {"bed": bed, **({"status": status} if status else {})}
    listed = httpx.get(f"{ward.nodes[node].base}/api/alerts", params=params, headers=headers).json()
    return [a for a in listed if a["kind"] == "node_down"]


def b_beds_on(base: str, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    reports = httpx.get(f"{base}/api/beds", headers=headers).json()
    return {r["summary"]["bed_id"]: r["summary"] for r in reports if r["summary"]["bed_id"] in B_BEDS}


def test_kill_9_of_b_raises_one_node_down_alert_per_bed_and_b_restarted_resumes(ward: Ward) -> None:
    headers = bearer(ward, "node-a")
    a, c = ward.nodes["node-a"].base, ward.nodes["node-c"].base
    ward.nodes["node-b"].process.send_signal(signal.SIGKILL)
    ward.nodes["node-b"].process.wait()

    def all_down_on(base: str) -> bool:
        beds = b_beds_on(base, headers)
        return set(beds) == set(B_BEDS) and all(
            b["state"] == "node_down" and any(x["kind"] == "node_down" for x in b["active_alerts"])
            for b in beds.values()
        )

    wait_for("B's beds node_down on A", lambda: all_down_on(a), timeout_s=15 + DOWN_AFTER_S)
    wait_for("B's beds node_down on C", lambda: all_down_on(c), timeout_s=15)
    # both survivors have watched B's beds down (each tried to raise the alerts): one alert per bed, opened once
    for bed in B_BEDS:
        (alert,) = node_down_alerts(ward, "node-c", headers, bed, "open")
        assert "node node-b" in alert["reason"] and alert["priority"] == "medium"
        events = httpx.get(f"{c}/api/alerts/{alert['id']}", headers=headers).json()["events"]
        assert [e["type"] for e in events] == ["opened"]
    summary = asyncio.run(summaries_until(ward.nodes["node-c"], headers, lambda m: "b1" in beds_of(m)))[-1]
    b1 = beds_of(summary)["b1"]
    assert b1["state"] == "node_down" and b1["pain_probability"] is None and b1["estimated_score"] is None
    metrics = httpx.get(f"{c}/metrics", headers=headers).text
    assert 'painwatch_ward_remote_beds{state="node_down"} 2.0' in metrics
    received = [line for line in metrics.splitlines() if line.startswith('painwatch_ward_notes{outcome="received"}')]
    assert received and float(received[0].split()[-1]) > 0

    ward.launch("node-b", list(B_BEDS), port=ward.nodes["node-b"].port)
    ward.wait_healthy("node-b")

    def all_live_on_c() -> bool:
        beds = b_beds_on(c, headers)
        return set(beds) == set(B_BEDS) and all(b["state"] in ("ok", "no_face") for b in beds.values())

    wait_for("B's beds live again on C", all_live_on_c, timeout_s=60)
    for bed in B_BEDS:
        still_open = functools.partial(node_down_alerts, ward, "node-a", headers, bed, "open")
        wait_for(f"{bed}'s node_down alert to close", lambda: not still_open())  # noqa: B023 (called at once)
        (closed,) = node_down_alerts(ward, "node-a", headers, bed)
        events = httpx.get(f"{a}/api/alerts/{closed['id']}", headers=headers).json()["events"]
        assert closed["status"] == "closed" and [e["type"] for e in events] == ["opened", "closed"]
