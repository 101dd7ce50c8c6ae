"""`painwatch data compare-detectors`: the thesis's Table 4.1 (no-face rate and speed per detector) on any
frame set, so the detector choice can be re-checked on a site's own recordings.

Only the `detect` call is timed (not decoding), after one untimed warm-up call that absorbs the model's
lazy initialisation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from service.errors import UserError
from service.files import atomic_open, write_csv_atomic
from service.vision.detectors import DETECTORS, FaceDetector, create_detector
from service.vision.images import read_rgb
from training.data.crops import FRAMES_CSV, detect_best_face
from training.data.csvfiles import read_csv_rows
from training.data.schema import FRAMES_COLUMNS

logger = logging.getLogger(__name__)

COMPARISON_CSV = "detector_comparison.csv"
COMPARISON_MD = "detector_comparison.md"
COMPARISON_COLUMNS = ("detector", "frames", "no_face", "no_face_pct", "mean_ms", "median_ms", "unreadable")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class DetectorResult:
    detector: str
    frames: int
    no_face: int
    mean_ms: float
    median_ms: float
    unreadable: int

    @property
    def no_face_pct(self) -> float:
        return 100.0 * self.no_face / self.frames if self.frames else 0.0

    def as_row(self) -> dict[str, Any]:
        return {
            "detector": self.detector, "frames": self.frames, "no_face": self.no_face,
            "no_face_pct": f"{self.no_face_pct:.2f}", "mean_ms": f"{self.mean_ms:.2f}",
            "median_ms": f"{self.median_ms:.2f}", "unreadable": self.unreadable,
        }  # fmt: skip


def list_frames(frames_dir: Path) -> list[Path]:
    """The frames of FRAMES_DIR: those in frames.csv if present, else every .jpg/.png below it."""
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        raise UserError(f"{frames_dir}: frames folder not found")
    csv_path = frames_dir / FRAMES_CSV
    if csv_path.is_file():
        rows = read_csv_rows(csv_path, ("frame_path",), FRAMES_COLUMNS)
        paths = [frames_dir / row["frame_path"] for _line, row in rows if row["frame_path"]]
    else:
        paths = sorted(
            p for p in frames_dir.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )  # fmt: skip
    if not paths:
        raise UserError(f"{frames_dir}: no frames (no {FRAMES_CSV} rows and no .jpg/.png files)")
    return paths


def run_detector(
    detector: FaceDetector, frames: Sequence[Path], min_score: float, show_progress: bool = True
) -> DetectorResult:
    """No-face count and detect-call timing of one detector over the frames."""
    times_ms: list[float] = []
    no_face = unreadable = 0
    warmed_up = False
    for path in tqdm(frames, desc=detector.name, unit="frame", disable=not show_progress):
        try:
            rgb = read_rgb(path)
        except UserError as exc:
            logger.warning("%s", exc)
            unreadable += 1
            continue
        if not warmed_up:
            detector.detect(rgb)
            warmed_up = True
        start = time.perf_counter()
        face = detect_best_face(detector, rgb, min_score)
        times_ms.append((time.perf_counter() - start) * 1000.0)
        no_face += face is None
    ordered = sorted(times_ms)
    return DetectorResult(
        detector=detector.name,
        frames=len(times_ms),
        no_face=no_face,
        mean_ms=sum(times_ms) / len(times_ms) if times_ms else float("nan"),
        median_ms=ordered[len(ordered) // 2] if ordered else float("nan"),
        unreadable=unreadable,
    )


def markdown_table(results: Sequence[DetectorResult]) -> str:
    lines = [
        "| Detector | Frames | No face | No face % | Mean ms/frame | Median ms/frame |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.detector} | {r.frames} | {r.no_face} | {r.no_face_pct:.2f} | {r.mean_ms:.2f} | {r.median_ms:.2f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def compare_detectors(
    frames_dir: Path,
    out_dir: Path | None = None,
    detector_names: Sequence[str] = tuple(DETECTORS),
    min_score: float = 0.5,
    models_dir: Path | None = None,
    show_progress: bool = True,
) -> list[DetectorResult]:
    """Run each detector over the frames and write the comparison table (CSV + Markdown) to OUT_DIR."""
    frames = list_frames(frames_dir)
    unknown = [n for n in detector_names if n not in DETECTORS]
    if unknown:
        raise UserError(f"unknown face detector(s) {', '.join(unknown)}; choose from: {', '.join(DETECTORS)}")
    detectors: list[FaceDetector] = []
    try:
        # all detectors start before any runs, so a missing model fails in seconds, not after a long run
        for name in detector_names:
            detectors.append(create_detector(name, mode="image", min_score=min_score, models_dir=models_dir))
        results = [run_detector(d, frames, min_score, show_progress) for d in detectors]
    finally:
        for detector in detectors:
            detector.close()
    target = Path(out_dir) if out_dir is not None else Path(frames_dir)
    write_csv_atomic(target / COMPARISON_CSV, COMPARISON_COLUMNS, [r.as_row() for r in results])
    with atomic_open(target / COMPARISON_MD, "w", encoding="utf-8") as handle:
        title = f"Face detectors on {len(frames)} frames of `{Path(frames_dir).name}` (min score {min_score})"
        handle.write(f"{title}\n\n")
        handle.write(markdown_table(results))
    return results
