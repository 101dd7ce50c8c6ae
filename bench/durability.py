"""Is anything a nurse did lost when the service is killed? `painwatch serve` is SIGKILLed at random moments while
nurses acknowledge alerts and pause/resume beds; afterwards the database is read directly and every action that
was answered 200 must be in it.

Four beds play a synthetic video (face for part of the loop, then none) with thresholds that open and close
alerts all the time. Client threads (httpx), each logged in as its own nurse, list alerts and acknowledge
unacknowledged ones (any thread, any alert); bed i is paused and resumed only by thread i % clients, so each
bed's pause/resume sequence is unambiguous. Meanwhile the service is killed with SIGKILL after a random uptime
(seeded) and restarted on the same data folder and store, at least `--cycles` times; the run ends with one more
kill while the clients are still busy. Then, with the service dead, every 200-answered action is checked:

- ack: the alerts row has acknowledged_by/verdict/note as answered, and an `acknowledged` alert_events row by
  that user exists (the `alert.acknowledge` audit row is counted separately);
- pause: a `paused` event for the bed whose details.until equals the answered paused_until, and a `bed.pause`
  audit row with that until;
- resume (only one that directly follows a 200-answered pause of the same bed): a `resumed` event by that user
  after that pause's event, timed within the request.

Writes bench/results/durability.json (per store: kill/restart cycles, 200-answered and lost actions per kind with
examples, non-200 answers by status, connection errors, start-up times, service log errors, git commit).

    .venv/bin/python bench/durability.py --store both --seconds 60
    .venv/bin/python bench/durability.py --store postgres --seconds 30 --cycles 5 --seed 1

PostgreSQL: a throwaway server (tests/support/postgres.py; Debian's initdb/pg_ctl, as `postgres` when root).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support.postgres (the repo root is not an installed package)

from service.alerts.params import AlertParams  # noqa: E402
from service.demo_video import write_demo_video  # noqa: E402
from service.store.models import AlertEventRow, AlertRow, AuditRow  # noqa: E402
from tests.support.cli import PAINWATCH  # noqa: E402
from tests.support.network import free_port, wait_until_answering  # noqa: E402
from tests.support.postgres import PostgresError, ThrowawayPostgres  # noqa: E402

ADMIN_PASSWORD = "durability-bench-admin-pw"
NURSE_PASSWORD = "durability-bench-nurse-pw"
VERDICTS = ("pain_confirmed", "not_pain", "unsure")
UNTIL_TOLERANCE_S = 1e-3
CLOCK_SLACK_S = 1.0
SLOW_REQUEST_S = 5.0
PAUSE_CHANCE = 0.05
"""Per round and owned bed that is not paused: the chance it is paused now ..."""
PAUSE_HOLD_S = (1.0, 4.0)
"""... and resumed after this long (uniform)."""
EXAMPLES = 5


# -- the service process ---------------------------------------------------------------------------------------
def alert_settings() -> str:
    """Short timers so alerts open and close all the time (a pain episode, once open, stays open: close 600 s)."""
    settings = "open_after_s: 1, close_after_s: 600, high_after_s: 600, no_face_after_s: 1"
    if "technical_min_off_s" in AlertParams.model_fields:  # anti-flapping minimum times, where the service has them
        settings += ", technical_min_on_s: 0, technical_min_off_s: 0"
    return "alerts: {" + settings + "}\n"


def write_config(folder: Path, model: Path, port: int, store_url: str | None, video_s: float) -> Path:
    beds = []
    for index in range(4):  # face for the first 25-40 % of each bed's loop (out of step), then long enough none
        face_until = video_s * (0.25 + 0.05 * index)
        video = write_demo_video(folder / f"bed{index}.mp4", seconds=video_s, fps=10.0, face_until_s=face_until)
        beds.append(
            f"  - {{id: bed{index}, label: 'Bench bed {index}', scale: DAN, analysis_rate_hz: 2, "
            f"source: {{type: video, path: '{video}'}}}}\n"
        )
    config = folder / "config.yaml"
    config.write_text(
        "beds:\n" + "".join(beds) + f"model: {{path: '{model}', providers: [CPUExecutionProvider]}}\n"
        # every face frame counts as pain: episodes open within seconds; no_face alerts open 1 s after the face goes
        "aggregation: {window_s: 2, pain_threshold: 0.000001, min_face_share: 0.2}\n"
        + alert_settings()
        + f"server: {{port: {port}}}\n"
        f"data_dir: '{folder / 'data'}'\n" + (f"store: {{url: '{store_url}'}}\n" if store_url else "")
    )
    return config


class Service:
    """`painwatch serve --config FILE` as a subprocess, killed with SIGKILL and started again on the same data."""

    def __init__(self, config: Path, port: int, logs: Path) -> None:
        self.config, self.port, self.logs = config, port, logs
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.incarnation = 0
        self.startup_s: list[float] = []
        self.kill_times: list[float] = []
        """Unix time of each SIGKILL."""

    def start(self, timeout_s: float = 120.0) -> None:
        self.incarnation += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PAINWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD}
        command = [*PAINWATCH, "serve", "--config", str(self.config)]
        started = time.monotonic()
        with (self.logs / f"service-{self.incarnation}.log").open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        wait_until_answering(f"{self.base}/healthz", self.process, timeout_s)
        self.startup_s.append(time.monotonic() - started)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill_times.append(time.time())
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def log_errors(self) -> dict[str, Any]:
        """Lines of the service's console that look like errors (deduplicated), over all its runs."""
        lines: Counter[str] = Counter()
        tracebacks = 0
        for path in sorted(self.logs.glob("service-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("Traceback"):
                    tracebacks += 1
                if any(word in line for word in ("ERROR", "Error:", "Exception", "CRITICAL")):
                    lines[line.split(" - ", 1)[-1].strip()[:240]] += 1
        return {"tracebacks": tracebacks, "error_lines": [{"line": k, "count": n} for k, n in lines.most_common(12)]}


# -- the nurses ------------------------------------------------------------------------------------------------
@dataclass
class Action:
    kind: str  # ack | pause | resume
    client: int
    user: str
    sent_at: float
    answered_at: float
    bed_id: str | None = None
    alert_id: str | None = None
    verdict: str | None = None
    note: str | None = None
    paused_until: float | None = None
    reason: str | None = None
    after_pause: int | None = None
    """resume: index (in Recorder.actions) of the 200-answered pause it directly follows, else None (unchecked)."""


@dataclass
class Recorder:
    actions: list[Action] = field(default_factory=list)
    non_200: Counter[str] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    relogins: int = 0
    slow_requests: int = 0
    max_request_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action: Action) -> int:
        with self.lock:
            self.actions.append(action)
            return len(self.actions) - 1


class Nurse(threading.Thread):
    def __init__(
        self, index: int, base: str, beds: list[str], recorder: Recorder, stop: threading.Event, seed: int
    ) -> None:
        super().__init__(name=f"nurse-{index}", daemon=True)
        self.index, self.user, self.base, self.beds = index, f"bench-nurse-{index}", base, beds
        self.recorder, self.stop_event = recorder, stop
        self.rng = random.Random(seed * 1000 + index)
        self.http = httpx.Client(base_url=base, timeout=15.0)
        self.headers: dict[str, str] | None = None
        self.count = 0
        self.last_pause: dict[str, int | None] = dict.fromkeys(beds)
        """Per owned bed: the Recorder index of the 200-answered pause that is its last action, else None."""
        self.resume_at: dict[str, float | None] = dict.fromkeys(beds)
        """Per owned bed: when to resume it (monotonic), None while it is not paused by us."""

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.round()
            except httpx.TransportError as exc:
                # a kill: refused while restarting, reset mid-request (the action's fate is unknown: not checked)
                with self.recorder.lock:
                    self.recorder.connection_errors[type(exc).__name__] += 1
                self.stop_event.wait(0.25)
            except httpx.HTTPStatusError as exc:  # the login itself failed
                with self.recorder.lock:
                    self.recorder.non_200[f"login {exc.response.status_code}"] += 1
                self.stop_event.wait(1.0)
            self.stop_event.wait(self.rng.uniform(0.05, 0.3))
        self.http.close()

    def round(self) -> None:
        listed = self.call("list", "GET", "/api/alerts", params={"limit": 50})
        if listed is not None:
            open_ones = [a for a in listed.json() if a["acknowledged_at"] is None]
            if open_ones:
                self.acknowledge(self.rng.choice(open_ones)["id"])
        for bed in self.beds:  # paused now and then, for a few seconds (a paused bed opens no alerts to acknowledge)
            resume_at = self.resume_at[bed]
            if resume_at is None and self.rng.random() < PAUSE_CHANCE:
                self.resume_at[bed] = time.monotonic() + self.rng.uniform(*PAUSE_HOLD_S)
                self.pause(bed)
            elif resume_at is not None and time.monotonic() >= resume_at:
                self.resume_at[bed] = None
                self.resume(bed)

    def acknowledge(self, alert_id: str) -> None:
        self.count += 1
        verdict, note = self.rng.choice(VERDICTS), f"bench {self.user} #{self.count}"
        sent = time.time()
        answer = self.call("ack", "POST", f"/api/alerts/{alert_id}/ack", json={"verdict": verdict, "note": note})
        if answer is not None:
            body = answer.json()  # checked as answered: a wrong acknowledged_by/verdict/note shows as lost
            action = Action("ack", self.index, body["acknowledged_by"], sent, time.time(), bed_id=body["bed_id"],
                            alert_id=body["id"], verdict=body["verdict"], note=body["note"])  # fmt: skip
            self.recorder.add(action)

    def pause(self, bed: str) -> None:
        self.count += 1
        reason, minutes = f"bench pause {self.user} #{self.count}", self.rng.choice((5, 10, 30, 60))
        self.last_pause[bed] = None  # unknown until answered
        sent = time.time()
        answer = self.call("pause", "POST", f"/api/beds/{bed}/pause", json={"reason": reason, "minutes": minutes})
        if answer is not None:
            body = answer.json()
            action = Action("pause", self.index, self.user, sent, time.time(), bed_id=bed,
                            paused_until=body["paused_until"], reason=body["pause_reason"])  # fmt: skip
            self.last_pause[bed] = self.recorder.add(action)

    def resume(self, bed: str) -> None:
        after, self.last_pause[bed] = self.last_pause[bed], None
        sent = time.time()
        answer = self.call("resume", "POST", f"/api/beds/{bed}/resume")
        if answer is not None:
            self.recorder.add(Action("resume", self.index, self.user, sent, time.time(), bed_id=bed, after_pause=after))

    def login(self) -> None:
        credentials = {"username": self.user, "password": NURSE_PASSWORD}
        answer = self.http.post("/api/auth/login", json=credentials)
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def call(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """The 200 answer, else None (counted); logs in again once when the token stopped working."""
        for attempt in range(2):
            if self.headers is None:
                self.login()
            started = time.monotonic()
            answer = self.http.request(method, path, headers=self.headers, **kwargs)
            elapsed = time.monotonic() - started
            with self.recorder.lock:
                self.recorder.max_request_s = max(self.recorder.max_request_s, elapsed)
                self.recorder.slow_requests += elapsed > SLOW_REQUEST_S
            if answer.status_code == 401 and attempt == 0:
                self.headers = None
                with self.recorder.lock:
                    self.recorder.relogins += 1
                continue
            if answer.status_code == 200:
                return answer
            with self.recorder.lock:
                self.recorder.non_200[f"{kind} {answer.status_code}"] += 1
            return None
        return None


def create_nurses(base: str, count: int) -> None:
    admin = httpx.post(f"{base}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    admin.raise_for_status()
    headers = {"Authorization": f"Bearer {admin.json()['token']}"}
    for index in range(count):
        user = {"name": f"bench-nurse-{index}", "role": "nurse", "password": NURSE_PASSWORD}
        created = httpx.post(f"{base}/api/users", json=user, headers=headers)
        if created.status_code != 201:
            raise RuntimeError(f"creating {user['name']}: {created.status_code} {created.text}")


# -- the check -------------------------------------------------------------------------------------------------
def check(url: str, recorder: Recorder, kill_times: list[float]) -> dict[str, Any]:
    engine = create_engine(url)
    with engine.connect() as connection:
        alerts = {r.id: r for r in connection.execute(select(AlertRow))}
        events = list(connection.execute(select(AlertEventRow)))
        audits = list(connection.execute(select(AuditRow)))
    engine.dispose()
    acked_events = {(e.alert_id, e.user) for e in events if e.type == "acknowledged"}
    ack_audits = {(a.who, (a.details or {}).get("alert_id")) for a in audits if a.action == "alert.acknowledge"}
    paused = [e for e in events if e.type == "paused"]
    resumed = [e for e in events if e.type == "resumed"]
    pause_audits = [a for a in audits if a.action == "bed.pause"]

    def near(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and abs(a - b) <= UNTIL_TOLERANCE_S

    def pause_event(action: Action) -> Any:
        """The stored `paused` event of an answered pause (same bed, same until)."""
        same = (e for e in paused if e.bed_id == action.bed_id and near(e.details.get("until"), action.paused_until))
        return next(same, None)

    def pause_audited(action: Action) -> bool:
        details = [a.details or {} for a in pause_audits]
        return any(d.get("bed_id") == action.bed_id and near(d.get("until"), action.paused_until) for d in details)

    lost: dict[str, list[dict[str, Any]]] = {"ack": [], "pause": [], "resume": []}
    ack_audit_missing = 0
    unchecked_resumes = 0
    for action in recorder.actions:
        problems: list[str] = []
        if action.kind == "ack":
            row = alerts.get(action.alert_id or "")
            if row is None:
                problems.append("no alerts row")
            elif (row.acknowledged_by, row.verdict, row.note) != (action.user, action.verdict, action.note):
                stored = (row.acknowledged_by, row.verdict, row.note)
                problems.append(f"alerts row has acknowledged_by/verdict/note {stored}")
            if (action.alert_id, action.user) not in acked_events:
                problems.append("no 'acknowledged' event")
            if not problems and (action.user, action.alert_id) not in ack_audits:
                ack_audit_missing += 1
        elif action.kind == "pause":
            if pause_event(action) is None:
                problems.append("no 'paused' event with that until")
            if not pause_audited(action):
                problems.append("no 'bed.pause' audit row")
        elif action.kind == "resume":
            pause = recorder.actions[action.after_pause] if action.after_pause is not None else None
            stored_pause = pause_event(pause) if pause is not None else None
            if stored_pause is None:
                unchecked_resumes += 1  # no answered pause before it, or that pause itself was lost (counted there)
                continue
            if not any(e.bed_id == action.bed_id and e.user == action.user and e.ts >= stored_pause.ts
                       and action.sent_at - CLOCK_SLACK_S <= e.ts <= action.answered_at + CLOCK_SLACK_S
                       for e in resumed):  # fmt: skip
                problems.append("no 'resumed' event after the pause")
        if problems:
            next_kill = next((k for k in kill_times if k >= action.answered_at), None)
            example = {k: v for k, v in asdict(action).items() if v is not None}
            example["problems"] = problems
            example["answered_s_before_next_kill"] = (
                None if next_kill is None else round(next_kill - action.answered_at, 3)
            )
            lost[action.kind].append(example)
    answered = Counter(a.kind for a in recorder.actions)
    return {
        "answered_200": {k: answered.get(k, 0) for k in ("ack", "pause", "resume")},
        "resumes_checked": answered.get("resume", 0) - unchecked_resumes,
        "lost": {k: len(v) for k, v in lost.items()},
        "lost_examples": {k: v[:EXAMPLES] for k, v in lost.items() if v},
        "lost_answered_s_before_next_kill": sorted(
            gap for v in lost.values() for e in v if (gap := e["answered_s_before_next_kill"]) is not None
        )[:50],
        "ack_audit_rows_missing": ack_audit_missing,
        "database": {"alerts": len(alerts), "alert_events": len(events), "audit_log": len(audits)},
    }


# -- one run ---------------------------------------------------------------------------------------------------
def run_store(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix=f"painwatch-durability-{kind}-"))
    postgres: ThrowawayPostgres | None = None
    try:
        if kind == "postgres":
            postgres = ThrowawayPostgres()
            postgres.start()
        url = postgres.url if postgres else f"sqlite:///{folder / 'data' / 'painwatch.db'}"
        port = free_port()
        config = write_config(folder, args.model.resolve(), port, postgres.url if postgres else None, args.video_s)
        service = Service(config, port, folder)
        recorder, stop = Recorder(), threading.Event()
        print(f"[{kind}] starting the service (logs in {folder})", flush=True)
        service.start()
        create_nurses(service.base, args.clients)
        beds = [f"bed{i}" for i in range(4)]
        nurses = [
            Nurse(i, service.base, [b for j, b in enumerate(beds) if j % args.clients == i], recorder, stop, args.seed)
            for i in range(args.clients)
        ]
        started = time.monotonic()
        for nurse in nurses:
            nurse.start()
        restarts = 0
        while True:
            time.sleep(rng.uniform(args.min_uptime, args.max_uptime))
            service.kill()
            elapsed = time.monotonic() - started
            if restarts >= args.cycles and elapsed >= args.seconds:
                break  # this last kill ends the run, with the clients still busy
            print(f"[{kind}] kill {len(service.kill_times)} at {elapsed:.1f} s; restarting", flush=True)
            service.start()
            restarts += 1
        stop.set()
        for nurse in nurses:
            nurse.join(20)
        duration = time.monotonic() - started
        print(f"[{kind}] {restarts} kill/restart cycles + a final kill in {duration:.0f} s; checking", flush=True)
        result = check(url, recorder, service.kill_times)
        result.update(
            {
                "store": kind,
                "duration_s": round(duration, 1),
                "kill_restart_cycles": restarts,
                "kills": len(service.kill_times),
                "startup_s": {
                    "median": sorted(service.startup_s)[len(service.startup_s) // 2],
                    "max": max(service.startup_s),
                },
                "non_200": dict(sorted(recorder.non_200.items())),
                "connection_errors": dict(sorted(recorder.connection_errors.items())),
                "relogins": recorder.relogins,
                "slow_requests_over_5s": recorder.slow_requests,
                "max_request_s": round(recorder.max_request_s, 2),
                "service_log": service.log_errors(),
            }
        )
        return result
    finally:
        if postgres is not None:
            postgres.close()
        if args.keep:
            print(f"[{kind}] kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "service", "training")
    return {"commit": git("rev-parse", "HEAD") or None, "service_changes_uncommitted": dirty.splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="Run at least this long (default 60).")
    parser.add_argument("--cycles", type=int, default=5, help="At least this many kill/restart cycles (default 5).")
    parser.add_argument("--min-uptime", type=float, default=2.0, help="Shortest uptime before a kill, s.")
    parser.add_argument("--max-uptime", type=float, default=9.0, help="Longest uptime before a kill, s.")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent nurse threads (default 4).")
    parser.add_argument("--video-s", type=float, default=8.0, help="Length of each bed's looping video, s.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=REPO / "exported_models" / "demo-synthetic" / "1")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "durability.json")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (config, logs, SQLite file).")
    args = parser.parse_args()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results: dict[str, Any] = {}
    for kind in stores:
        try:
            results[kind] = run_store(kind, args)
        except PostgresError as exc:
            results[kind] = {"store": kind, "not_run": str(exc)}
            print(f"[{kind}] not run: {exc}")
    out = {
        "what": "actions answered 200 that are missing from the database after SIGKILLs of `painwatch serve`",
        "git": git_state(),
        "source_tree": str(REPO),
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "service_alert_settings": alert_settings().strip(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for kind, result in results.items():
        if "not_run" in result:
            continue
        print(
            f"\n{kind}: {result['kill_restart_cycles']} kill/restart cycles + final kill in {result['duration_s']} s "
            f"(start-up median {result['startup_s']['median']:.1f} s)\n"
            f"  answered 200: {result['answered_200']} (resumes checked: {result['resumes_checked']})\n"
            f"  LOST:         {result['lost']}   ack audit rows missing: {result['ack_audit_rows_missing']}\n"
            f"  non-200: {result['non_200']}  connection errors: {result['connection_errors']}  "
            f"re-logins: {result['relogins']}  slowest request {result['max_request_s']} s"
        )
        for kindof, examples in result["lost_examples"].items():
            for example in examples[:2]:
                print(f"  lost {kindof}: {json.dumps(example)}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
