"""A ward on one machine: 3 `painwatch serve` nodes x 4 video beds sharing one throwaway PostgreSQL
(tests/support/postgres.py), plus what a ward station sees.

Measured over `--seconds`:
- **fan-out latency**: nurses' pause/resume actions are made on node 1 (REST, local beds); each produces an alert
  event stamped by node 1 (`event.ts`); WebSocket clients on /ws/alerts of nodes 2 and 3 record when it arrives.
  latency = arrival - event.ts (one machine, one clock). Also the round trip of a pause made on node 3 for a bed of
  node 1 (the command over NOTIFY, applied by node 1's engine, the reply back);
- **ward view age**: on node 3's /ws/beds, the age of node 1's and node 2's bed summaries at arrival
  (arrival - the owning node's last analysis time: includes the 2 Hz summary periods at both ends);
- **PostgreSQL write rate**: pg_stat_database deltas (commits, rows inserted/updated per second);
- **CPU per node**: /proc/<pid>/stat user+system time over the window, in cores.

The model is the tiny test model (tests/support/models.py: write_dark_mouth_model) by default, so the numbers are
about the ward machinery, not the pain model; `--model demo` uses the shipped demo model.

    .venv/bin/python bench/ward.py --seconds 30
Writes bench/results/ward.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support (the repo root is not an installed package)

from service.demo_video import write_demo_video  # noqa: E402
from tests.support.cli import PAINWATCH  # noqa: E402
from tests.support.models import write_dark_mouth_model  # noqa: E402
from tests.support.network import free_port, wait_until_answering  # noqa: E402
from tests.support.postgres import ThrowawayPostgres  # noqa: E402

ADMIN_PASSWORD = "ward-bench-admin-password"
DEMO_MODEL = REPO / "exported_models" / "demo-synthetic" / "1"
NODES = 3
BEDS_PER_NODE = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")


def node_config(root: Path, name: str, index: int, port: int, model: Path, video: Path, url: str) -> Path:
    source = f"{{type: video, path: '{video}'}}"
    beds = ", ".join(
        f"{{id: n{index}b{i}, scale: DAN, analysis_rate_hz: 2, source: {source}}}" for i in range(BEDS_PER_NODE)
    )
    path = root / f"{name}.yaml"
    path.write_text(
        f"beds: [{beds}]\nnode: {{id: {name}, advertise_url: 'http://127.0.0.1:{port}'}}\nstore: {{url: '{url}'}}\n"
        f"model: {{path: '{model}', providers: [CPUExecutionProvider]}}\nsnapshots: {{enabled: false}}\n"
        f"alerts: {{pause_max_minutes: 60}}\nserver: {{port: {port}}}\ndata_dir: '{root / name}'\n"
    )
    return path


def start_node(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PAINWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as handle:
        return subprocess.Popen(
            [*PAINWATCH, "serve", "--config", str(config)],
            stdout=handle, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def pg_counters(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    engine.dispose()
    return {"commits": int(row[0]), "rows_inserted": int(row[1]), "rows_updated": int(row[2])}


def git_commit() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip()


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}  # fmt: skip


async def watch_alerts(base: str, headers: dict[str, str], out: list[float], stop: asyncio.Event) -> None:
    """Latency of every pause/resume event arriving on this node's /ws/alerts."""
    async with websockets.connect(base.replace("http", "ws", 1) + "/ws/alerts", additional_headers=headers) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            arrived = time.time()
            message = json.loads(raw)
            if message.get("type") == "alert_event" and message["event"]["type"] in ("paused", "resumed"):
                out.append(arrived - message["event"]["ts"])


async def watch_summaries(base: str, headers: dict[str, str], own: str, out: list[float], stop: asyncio.Event) -> None:
    async with websockets.connect(base.replace("http", "ws", 1) + "/ws/beds", additional_headers=headers) as ws:
        while not stop.is_set():
            message = json.loads(await ws.recv())
            arrived = time.time()
            for bed in message["beds"]:
                if bed["node_id"] != own and bed["state"] in ("ok", "no_face") and bed["last_update_ts"]:
                    out.append(arrived - bed["last_update_ts"])


def act(bases: list[str], headers: dict[str, str], seconds: float, local: list[float], remote: list[float]) -> None:
    """Pause/resume node 1's beds on node 1 (events to fan out), and now and then from node 3 (remote commands)."""
    deadline = time.monotonic() + seconds
    i = 0
    with httpx.Client(headers=headers, timeout=20) as client:
        while time.monotonic() < deadline:
            bed = f"n0b{i % BEDS_PER_NODE}"
            via = bases[2] if i % 5 == 4 else bases[0]
            started = time.monotonic()
            paused = client.post(f"{via}/api/beds/{bed}/pause", json={"reason": "bench", "minutes": 1})
            (remote if via == bases[2] else local).append(time.monotonic() - started)
            resumed = client.post(f"{bases[0]}/api/beds/{bed}/resume")
            if paused.status_code != 200 or resumed.status_code != 200:
                raise SystemExit(f"pause/resume answered {paused.status_code}/{resumed.status_code}: {paused.text}")
            i += 1
            time.sleep(0.2)


async def measure(bases: list[str], headers: dict[str, str], seconds: float) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"alerts_on_node2": [], "alerts_on_node3": [], "summary_age_on_node3": [],
                                       "local_pause_http": [], "remote_pause_http": []}  # fmt: skip
    stop = asyncio.Event()
    watchers = [
        asyncio.create_task(watch_alerts(bases[1], headers, results["alerts_on_node2"], stop)),
        asyncio.create_task(watch_alerts(bases[2], headers, results["alerts_on_node3"], stop)),
        asyncio.create_task(watch_summaries(bases[2], headers, "node-3", results["summary_age_on_node3"], stop)),
    ]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(act, bases, headers, seconds, results["local_pause_http"], results["remote_pause_http"])
    await asyncio.sleep(1.0)
    stop.set()
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model", choices=["tiny", "demo"], default="tiny")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ward.json")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="painwatch-ward-bench-"))
    model = DEMO_MODEL if args.model == "demo" else write_dark_mouth_model(root / "tiny" / "1", DEMO_MODEL)
    video = write_demo_video(root / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    processes: list[subprocess.Popen[bytes]] = []
    with ThrowawayPostgres() as pg:
        try:
            bases = []
            for index in range(NODES):
                port = free_port()
                name = f"node-{index + 1}"
                config = node_config(root, name, index, port, model, video, pg.url)
                processes.append(start_node(config, root / f"{name}.log"))
                bases.append(f"http://127.0.0.1:{port}")
                wait_until_answering(
                    f"{bases[-1]}/healthz", processes[-1], 180
                )  # one at a time: the first one migrates the schema
            login = {"username": "admin", "password": ADMIN_PASSWORD}
            token = httpx.post(f"{bases[0]}/api/auth/login", json=login).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            time.sleep(5.0)  # beds warm up
            cpu_before = [cpu_seconds(p.pid) for p in processes]
            pg_before, started = pg_counters(pg.url), time.monotonic()
            results = asyncio.run(measure(bases, headers, args.seconds))
            elapsed = time.monotonic() - started
            cpu = [round((cpu_seconds(p.pid) - b) / elapsed, 3) for p, b in zip(processes, cpu_before, strict=True)]
            pg_after = pg_counters(pg.url)
        finally:
            for process in processes:
                process.kill()
                process.wait()
    report: dict[str, Any] = {
        "nodes": NODES, "beds_per_node": BEDS_PER_NODE, "seconds": round(elapsed, 1), "model": args.model,
        "fanout_alert_event_to_ws": {
            "node2": percentiles(results["alerts_on_node2"]), "node3": percentiles(results["alerts_on_node3"]),
        },
        "remote_command_http": percentiles(results["remote_pause_http"]),
        "local_command_http": percentiles(results["local_pause_http"]),
        "ward_view_summary_age_on_node3": percentiles(results["summary_age_on_node3"]),
        "postgres_per_s": {k: round((pg_after[k] - pg_before[k]) / elapsed, 1) for k in pg_after},
        "cpu_cores_per_node": cpu,
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commit": git_commit(),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
