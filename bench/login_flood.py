"""Does a login flood starve the beds? Analysed frames/s of one demo bed just before and during a flood of logins
with random user names (no account needed), in one run of a real `painwatch serve` process.

Each unknown name costs an Argon2 hash (64 MiB, ~0.2 s of a core). The figure is the ratio of the bed's analysed
frames/s during the flood to just before it (target >= 0.8), with the flood's answers counted by status (429s
served). `--source DIR` runs another checkout's code (e.g. a `git worktree` of an older commit) for comparison.

    .venv/bin/python bench/login_flood.py                       # this checkout -> bench/results/login_flood.json
    git worktree add /tmp/pw-before <commit> && .venv/bin/python bench/login_flood.py --source /tmp/pw-before \\
        --out bench/results/login_flood_before.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support (the repo root is not an installed package)

from tests.support.cli import PAINWATCH  # noqa: E402
from tests.support.network import free_port, wait_until_answering  # noqa: E402

ADMIN_PASSWORD = "login-flood-bench-admin-pw"


def git_commit(source: Path) -> str:
    result = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def start_service(source: Path, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """The default demo bed (synthetic video, demo model) on `port`, with `source`'s code first on the path."""
    config = tmp / "config.yaml"
    model = source / "exported_models" / "demo-synthetic" / "1"
    config.write_text(
        "beds: [{id: demo, scale: DAN, analysis_rate_hz: null,\n"
        f"        source: {{type: video, path: '{tmp / 'demo.mp4'}', loop: true, realtime: true}}}}]\n"
        f"model: {{path: '{model}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp / 'data'}'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(source), "PAINWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    log = (tmp / "service.log").open("wb")
    command = [*PAINWATCH, "serve", "--config", str(config)]
    return subprocess.Popen(command, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT)


def frames_analysed(http: httpx.Client) -> int:
    return int(http.get("/api/beds/demo").json()["analysis"]["frames_analysed"])


def analysed_fps(http: httpx.Client, seconds: float) -> float:
    before, started = frames_analysed(http), time.monotonic()
    time.sleep(seconds)
    return (frames_analysed(http) - before) / (time.monotonic() - started)


def flood(base: str, threads: int, stop: threading.Event, statuses: Counter[str], latencies: list[float]) -> None:
    lock = threading.Lock()

    def attacker() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = str(
                        client.post(
                            "/api/auth/login",
                            json={"username": f"nobody-{secrets.token_hex(6)}", "password": secrets.token_hex(8)},
                        ).status_code
                    )
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                with lock:
                    statuses[status] += 1
                    latencies.append(time.monotonic() - started)

    workers = [threading.Thread(target=attacker, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    stop.wait()
    for worker in workers:
        worker.join(70)


def run(source: Path, seconds: float, threads: int, warmup_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="painwatch-login-flood-") as name:
        tmp = Path(name)
        sys.path.insert(0, str(source))
        from service.demo_video import write_demo_video

        write_demo_video(tmp / "demo.mp4", seconds=8.0, fps=15.0, face_until_s=8.0)  # face always visible
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_service(source, tmp, port)
        try:
            wait_until_answering(f"{base}/healthz", process, 120)
            token = httpx.post(f"{base}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token['token']}"}, timeout=60) as http:
                time.sleep(warmup_s)
                quiet = analysed_fps(http, seconds)
                stop, statuses, latencies = threading.Event(), Counter[str](), []
                attackers = threading.Thread(target=flood, args=(base, threads, stop, statuses, latencies))
                attackers.start()
                time.sleep(2.0)  # the flood is under way
                during = analysed_fps(http, seconds)
                stop.set()
                attackers.join(90)
                after = analysed_fps(http, min(seconds, 10.0))
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    latencies.sort()
    return {
        "analysed_fps": {"before": quiet, "during_flood": during, "after": after},
        "ratio_during_to_before": during / quiet if quiet else None,
        "flood": {
            "threads": threads,
            "answers": dict(statuses),
            "answers_per_s": sum(statuses.values()) / (seconds + 2.0),
            "latency_s": {
                "p50": latencies[len(latencies) // 2] if latencies else None,
                "max": latencies[-1] if latencies else None,
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO, help="checkout whose code runs the service")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window before and during")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "login_flood.json")
    args = parser.parse_args()
    source = args.source.resolve()
    result = {
        "what": "analysed frames/s of one demo bed (face always visible) before and during a login flood with "
        "random user names; target: ratio >= 0.8 with 429s served",
        "git_commit": git_commit(source),
        "source": str(source),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(), "cores": os.cpu_count()},
        **run(source, args.seconds, args.threads, args.warmup),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staged = args.out.with_suffix(".json.tmp")
    staged.write_text(json.dumps(result, indent=2) + "\n")
    staged.replace(args.out)
    fps = result["analysed_fps"]
    print(f"analysed frames/s before {fps['before']:.2f}, during the flood {fps['during_flood']:.2f} "
          f"(ratio {result['ratio_during_to_before']:.2f}), after {fps['after']:.2f}; "
          f"flood answers {result['flood']['answers']} -> {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
