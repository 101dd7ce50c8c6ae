"""Benchmark the bedside service on this machine: synthetic video, N beds, real WebSocket clients, several models.

Writes bench/results/serve.json. Per case (model x beds): face frames (analysed by the model) and no-face frames
per second per bed, reported apart; per-stage p50/p95 (from each message's timings); capture-to-message latency;
inference batch sizes; the process's CPU use (cores) and the host's. In the same run, the float32 model alone
(one ONNX Runtime session with the engine's options, batch 1, no service) before and after the cases, and per case
R1 = face frames/s of one bed (face always visible, Grad-CAM on) / float32-alone frames/s. Numbers depend on the
machine and its load; compare the ratios within one run.

    .venv/bin/python bench/serve.py --models FP32_DIR INT8_BLOCKS_DIR --fp32-model FP32_DIR --seconds 30
(bench/model.py writes both folders, from one random-weight checkpoint, to /tmp/painwatch-bench-models/.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support (the repo root is not an installed package)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from service.auth import Role  # noqa: E402
from service.config.settings import settings_from_dict  # noqa: E402
from service.demo_video import ScriptStep, write_demo_video, write_scripted_demo  # noqa: E402
from service.inference.model import physical_cores, resolve_model_file, session_options  # noqa: E402
from service.serve import build_service, make_server  # noqa: E402
from tests.support.users import add_user  # noqa: E402

STAGES = ("capture_wait_ms", "detect_ms", "crop_ms", "infer_ms", "aggregate_ms", "encode_ms")


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def listen(url: str, seconds: float, headers: dict[str, str]) -> list[dict[str, Any]]:
    messages = []
    async with websockets.connect(url, max_size=2**22, additional_headers=headers) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
            except TimeoutError:
                break
            if isinstance(raw, str):
                messages.append(json.loads(raw))
    return messages


async def listen_all(
    ws_base: str, bed_ids: list[str], seconds: float, headers: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    results = await asyncio.gather(*(listen(f"{ws_base}/ws/beds/{b}", seconds, headers) for b in bed_ids))
    return dict(zip(bed_ids, results, strict=True))


def host_cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host since boot (/proc/stat), to compute its utilisation."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_stats(messages: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    return {
        s: {
            "p50": percentile([m["timings"][s] for m in messages], 0.5),
            "p95": percentile([m["timings"][s] for m in messages], 0.95),
        }
        for s in STAGES
    }


def model_alone(model: Path, seconds: float) -> dict[str, Any]:
    """The model alone: one session with the engine's options, batch 1, back-to-back runs for `seconds`."""
    session = ort.InferenceSession(
        str(resolve_model_file(model)), sess_options=session_options(), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    session.run(None, {"image": image})
    times = []
    end = time.monotonic() + seconds
    cpu0 = process_cpu_s()
    while time.monotonic() < end:
        started = time.perf_counter()
        session.run(None, {"image": image})
        times.append(time.perf_counter() - started)
    cpu = process_cpu_s() - cpu0
    return {
        "model": str(model),
        "runs": len(times),
        "frames_per_s": len(times) / sum(times),
        "p50_ms": percentile(times, 0.5) * 1000,  # type: ignore[operator]
        "p95_ms": percentile(times, 0.95) * 1000,  # type: ignore[operator]
        "cpu_cores_used": cpu / sum(times),
    }


def run_case(model: Path, video: Path, beds: int, seconds: float, warmup_s: float, data_dir: Path) -> dict[str, Any]:
    bed_ids = [f"bed-{i}" for i in range(beds)]
    settings = settings_from_dict(
        {
            "data_dir": str(data_dir),  # a fresh store per case, never the user's ~/.cache/painwatch
            "beds": [
                {"id": b, "scale": "DAN", "source": {"type": "video", "path": str(video)}, "analysis_rate_hz": None}
                for b in bed_ids
            ],
            "model": {"path": str(model.resolve()), "providers": ["CPUExecutionProvider"]},
            "server": {"port": 0},
        }
    )
    service = build_service(settings)
    server, sock = make_server(service, log_level="warning")
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    time.sleep(warmup_s)
    rss_start = rss_mb()
    token = service.access.sessions.issue(add_user(service, "bench", Role.NURSE))
    headers = {"Authorization": f"Bearer {token}"}
    batches_before = service.engine.batches_run
    cpu0, (busy0, total0) = process_cpu_s(), host_cpu_times()
    per_bed = asyncio.run(listen_all(f"ws://127.0.0.1:{port}", bed_ids, seconds, headers))
    cpu1, (busy1, total1) = process_cpu_s(), host_cpu_times()
    rss_end = rss_mb()
    n_batches = service.engine.batches_run - batches_before
    batches = list(service.engine.recent_batch_sizes)[-n_batches:] if n_batches else []
    server.should_exit = True
    thread.join(10)
    ok = [m for ms in per_bed.values() for m in ms if m["state"] == "ok"]
    no_face = [m for ms in per_bed.values() for m in ms if m["state"] == "no_face" and m.get("timings")]
    analysed = [m for ms in per_bed.values() for m in ms if m.get("timings")]
    besides_model = [sum(m["timings"][s] for s in STAGES if s not in ("infer_ms", "capture_wait_ms")) for m in ok]
    latencies = [m["latency_ms"] for m in ok]
    infer = [m["timings"]["infer_ms"] for m in ok]
    infer_median = percentile(infer, 0.5)
    p95 = percentile(latencies, 0.95)
    return {
        "model": str(model),
        "beds": beds,
        "seconds": seconds,
        "face_frames_per_s_per_bed": {
            b: len([m for m in ms if m["state"] == "ok"]) / seconds for b, ms in per_bed.items()
        },
        "no_face_frames_per_s_per_bed": {
            b: len([m for m in ms if m["state"] == "no_face" and m.get("timings")]) / seconds
            for b, ms in per_bed.items()
        },
        "analysed_fps_per_bed": {b: len([m for m in ms if m.get("timings")]) / seconds for b, ms in per_bed.items()},
        "frames_ok": len(ok),
        "frames_no_face": len(no_face),
        "frames_other_states": len(analysed) - len(ok) - len(no_face),
        "stage_ms_face_frames": stage_stats(ok),
        "stage_ms_no_face_frames": stage_stats(no_face),
        "besides_model_median_ms": statistics.median(besides_model) if besides_model else None,
        "latency_ms_face_frames": {"p50": percentile(latencies, 0.5), "p95": p95},
        "infer_ms": {"p50": infer_median, "p95": percentile(infer, 0.95)},
        "p95_latency_minus_model_p50_ms": None if p95 is None or infer_median is None else p95 - infer_median,
        "cpu": {
            "process_cores_used": (cpu1 - cpu0) / seconds,
            "host_busy_share": (busy1 - busy0) / max(total1 - total0, 1e-9),
            "host_cores": os.cpu_count(),
        },
        "rss_mb": {"after_warmup": rss_start, "end": rss_end, "growth": rss_end - rss_start},
        "batches_run": n_batches,
        # the engine keeps the sizes of its last 256 batches only
        "inference_batch_sizes": {str(k): batches.count(k) for k in sorted(set(batches))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, nargs="+", default=[Path("exported_models/demo-synthetic/1")])
    parser.add_argument("--fp32-model", type=Path, default=None, help="for the model-alone rate (default: first)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--alone-seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--beds", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--video", choices=("face", "demo"), default="face", help="face: always visible; demo: last quarter no face"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/serve.json"))
    args = parser.parse_args()
    fp32 = args.fp32_model or args.models[0]
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        if args.video == "face":  # the scripted demo's face (180 px, found on every frame): 4 s calm, 4 s pain
            script = (ScriptStep("calm", 4.0), ScriptStep("pain", 4.0))
            video, _ = write_scripted_demo(Path(tmp) / "face.mp4", script=script, fps=30.0)
        else:
            video = write_demo_video(Path(tmp) / "demo.mp4", seconds=8.0, fps=30.0, face_until_s=6.0)
        alone = [model_alone(fp32, args.alone_seconds)]
        cases = [
            run_case(model, video, n, args.seconds, args.warmup, Path(tempfile.mkdtemp(dir=tmp)))
            for model in args.models
            for n in args.beds
        ]
        alone.append(model_alone(fp32, args.alone_seconds))
    alone_fps = statistics.mean(a["frames_per_s"] for a in alone)
    for case in cases:
        if case["beds"] == 1 and args.video == "face":
            case["r1_face_fps_vs_fp32_alone"] = case["face_frames_per_s_per_bed"]["bed-0"] / alone_fps
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "physical_cores": physical_cores(),
            "onnxruntime": ort.__version__,
            "load_average_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        },
        "video": "synthetic video (service/demo_video.py), 640x480 at 30 fps, realtime, looped, "
        + (
            "the scripted demo's face always visible (4 s calm, 4 s drawn pain cues)"
            if args.video == "face"
            else "the small astronaut face for 6 of every 8 s"
        )
        + "; analysis_rate_hz null, Grad-CAM on (heatmap_hz 2)",
        "fp32_model_alone": {"before": alone[0], "after": alone[1], "frames_per_s_mean": alone_fps},
        "r1_definition": "face frames/s analysed by the service for one bed (face always visible, Grad-CAM on) / "
        "fp32 model-alone frames/s at batch 1 (mean of before and after), same run",
        "cases": cases,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
