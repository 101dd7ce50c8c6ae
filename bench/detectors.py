"""Median ms per frame of each face detector at 640x480 and 1280x720 (IMAGE mode, this machine's CPU).

A real face photograph (skimage's astronaut) is placed into frames of each size, scaled with the frame height
(the same scene at a higher resolution: the face is 95 px high at 480 and ~143 px at 720) and shifted a few
pixels per frame so no detector sees the same pixels twice. Only the `detect` call is timed. Results, with the
machine they were measured on, go to bench/results/detectors.json.

    .venv/bin/python bench/detectors.py [--frames 60] [--out bench/results/detectors.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from service.vision.detectors import DETECTORS, best_face, create_detector

SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}
FACE_PATCH = data.astronaut()[0:300, 60:360]  # the head with context; face about 95x95 at x 117, y 82


def make_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """Frames with the face patch near the centre, shifted by up to +-20 px, on mild noise."""
    rng = np.random.default_rng(0)
    side = round(300 * height / 480)
    patch = cv2.resize(FACE_PATCH, (side, side), interpolation=cv2.INTER_LINEAR)
    frames = []
    for i in range(count):
        frame = rng.integers(70, 110, size=(height, width, 3), dtype=np.uint8)
        dx = (width - side) // 2 + (i * 7) % 41 - 20
        dy = (height - side) // 2 + (i * 5) % 41 - 20
        frame[dy : dy + side, dx : dx + side] = patch
        frames.append(frame)
    return frames


def time_detector(name: str, frames: list[np.ndarray]) -> dict[str, float | int]:
    detector = create_detector(name, mode="image")
    try:
        detector.detect(frames[0])  # warm-up: lazy model initialisation is not a per-frame cost
        times_ms, found = [], 0
        for frame in frames:
            start = time.perf_counter()
            faces = detector.detect(frame)
            times_ms.append((time.perf_counter() - start) * 1000.0)
            found += best_face(faces) is not None
    finally:
        detector.close()
    return {
        "median_ms": round(statistics.median(times_ms), 2),
        "mean_ms": round(statistics.fmean(times_ms), 2),
        "p90_ms": round(sorted(times_ms)[int(0.9 * len(times_ms))], 2),
        "frames": len(frames),
        "face_found": found,
    }


def machine_info() -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "versions": {pkg: version(pkg) for pkg in ("mediapipe", "opencv-contrib-python", "numpy")},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "shared machine; compare ratios within one run",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per size (at least 50)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detectors.json")
    args = parser.parse_args()
    frames_per_size = max(50, args.frames)

    results: dict[str, dict[str, dict[str, float | int]]] = {}
    for name in DETECTORS:
        results[name] = {}
        for size_name, (width, height) in SIZES.items():
            results[name][size_name] = time_detector(name, make_frames(width, height, frames_per_size))
            r = results[name][size_name]
            print(f"{name:16s} {size_name:9s} median {r['median_ms']:7.2f} ms  "
                  f"(mean {r['mean_ms']:.2f}, face found {r['face_found']}/{r['frames']})")  # fmt: skip

    report = {"benchmark": "face detectors, IMAGE mode, detect() call only", "machine": machine_info(),
              "frames": "astronaut head scaled with frame height (face ~95 px at 480, ~143 px at 720)",
              "results": results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
