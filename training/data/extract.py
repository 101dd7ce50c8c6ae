"""Decode each planned video inside its window at its rate and save the frames (resumable, deterministic).

Frames are chosen by the decoder's own presentation timestamps, not by seeking (seeks land on key frames and
differ between builds), so a rerun picks exactly the same frames. A finished video's folder holds its own
rows; a rerun skips it unless its plan parameters changed. One unreadable video never stops the others.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from service.errors import UserError
from service.files import atomic_dir, write_csv_atomic
from service.vision.images import write_rgb
from training.data.csvfiles import read_csv_rows
from training.data.schema import FRAMES_COLUMNS, PLAN_COLUMNS

logger = logging.getLogger(__name__)

FRAMES_SUBDIR = "frames"
VIDEO_ROWS = "frames_part.csv"
VIDEO_PARAMS = "plan_params.json"


@dataclass(frozen=True)
class PlannedVideo:
    video_id: str
    infant_id: str
    path: Path
    label_policy: str
    sample_fps: float
    max_seconds: float | None
    window_start_s: float
    window_end_s: float | None

    def params(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "label_policy": self.label_policy,
            "sample_fps": self.sample_fps,
            "max_seconds": self.max_seconds,
            "window_start_s": self.window_start_s,
            "window_end_s": self.window_end_s,
        }


@dataclass
class ExtractSummary:
    extracted: dict[str, int] = field(default_factory=dict)
    skipped_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total_frames(self) -> int:
        return sum(self.extracted.values())


def read_plan(path: Path) -> list[PlannedVideo]:
    """The included videos of a plan CSV written by `painwatch data plan`."""
    if not Path(path).is_file():
        raise UserError(f"{path}: plan not found; make one with `painwatch data plan MANIFEST -o plan.csv`")
    videos = []
    for line, row in read_csv_rows(Path(path), PLAN_COLUMNS, PLAN_COLUMNS):
        if row["included"].lower() != "true":
            continue
        try:
            videos.append(
                PlannedVideo(
                    video_id=row["video_id"],
                    infant_id=row["infant_id"],
                    path=Path(row["path"]),
                    label_policy=row["label_policy"],
                    sample_fps=float(row["sample_fps"]),
                    max_seconds=float(row["max_seconds"]) if row["max_seconds"] else None,
                    window_start_s=float(row["window_start_s"] or 0.0),
                    window_end_s=float(row["window_end_s"]) if row["window_end_s"] else None,
                )
            )
        except ValueError as exc:
            raise UserError(f"{path}: line {line}: {exc}") from exc
    return videos


def extract_all(plan: list[PlannedVideo], out_dir: Path) -> ExtractSummary:
    """Extract every planned video into out_dir; write out_dir/frames.csv from all finished videos."""
    out_dir = Path(out_dir)
    (out_dir / FRAMES_SUBDIR).mkdir(parents=True, exist_ok=True)
    summary = ExtractSummary()
    for video in tqdm(plan, desc="extracting", unit="video"):
        folder = out_dir / FRAMES_SUBDIR / video.video_id
        if _is_done(folder, video):
            summary.skipped_done.append(video.video_id)
            continue
        if folder.exists():
            shutil.rmtree(folder)  # a finished folder from a different plan: redo it
        try:
            summary.extracted[video.video_id] = _extract_video(video, folder, out_dir)
        except VideoDecodeError as exc:
            summary.failed[video.video_id] = str(exc)
            logger.error("%s: %s", video.video_id, exc)
    rows = [row for video in plan for row in _finished_rows(out_dir / FRAMES_SUBDIR / video.video_id)]
    write_csv_atomic(out_dir / "frames.csv", FRAMES_COLUMNS, rows)
    return summary


class VideoDecodeError(Exception):
    """A video that could not be opened or gave no frame in its window."""


def _is_done(folder: Path, video: PlannedVideo) -> bool:
    params_file = folder / VIDEO_PARAMS
    if not (folder / VIDEO_ROWS).is_file() or not params_file.is_file():
        return False
    return bool(json.loads(params_file.read_text(encoding="utf-8")) == video.params())


def _finished_rows(folder: Path) -> list[dict[str, str]]:
    if not (folder / VIDEO_ROWS).is_file():
        return []
    with open(folder / VIDEO_ROWS, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _extract_video(video: PlannedVideo, folder: Path, out_dir: Path) -> int:
    """Decode one video into its own folder, built under a temporary name and renamed when complete."""
    rows = []
    with atomic_dir(folder) as tmp:
        for timestamp_s, frame_index, rgb in selected_frames(video):
            frame_id = f"{video.video_id}_t{round(timestamp_s * 1000):08d}ms"
            write_rgb(tmp / f"{frame_id}.jpg", rgb)
            rows.append(
                {
                    "frame_id": frame_id,
                    "video_id": video.video_id,
                    "infant_id": video.infant_id,
                    "frame_path": f"{FRAMES_SUBDIR}/{video.video_id}/{frame_id}.jpg",
                    "timestamp_s": f"{timestamp_s:.3f}",
                    "frame_index": frame_index,
                    "label": video.label_policy if video.label_policy in ("pain", "nonpain") else "",
                    "label_policy": video.label_policy,
                }
            )
        if not rows:
            raise VideoDecodeError(
                f"{video.path}: no frame decoded inside the window starting at {video.window_start_s} s "
                "(corrupt, truncated, or the window lies beyond the end)"
            )
        write_csv_atomic(tmp / VIDEO_ROWS, FRAMES_COLUMNS, rows)
        (tmp / VIDEO_PARAMS).write_text(json.dumps(video.params()), encoding="utf-8")
    return len(rows)


def selected_frames(video: PlannedVideo) -> Iterator[tuple[float, int, np.ndarray]]:
    """(timestamp_s, frame_index, RGB frame) at `sample_fps` inside the (capped) window, in decode order.

    A target time t is served by the first decoded frame whose timestamp is within half a frame of t or
    later, so the count is rate x window length (+-1) whatever the video's own frame rate.
    """
    capture = cv2.VideoCapture(str(video.path))
    if not capture.isOpened():
        raise VideoDecodeError(f"{video.path}: cannot be opened as a video (missing, corrupt or unsupported)")
    try:
        native_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        half_frame = 0.5 / native_fps
        start = video.window_start_s
        end = video.window_end_s if video.window_end_s is not None else float("inf")
        if video.max_seconds is not None:
            end = min(end, start + video.max_seconds)
        step = 1.0 / video.sample_fps
        target_index = 0
        frame_index = -1
        while capture.grab():
            frame_index += 1
            timestamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if timestamp >= end - half_frame:
                break
            target = start + target_index * step
            if timestamp < target - half_frame:
                continue
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                raise VideoDecodeError(f"{video.path}: frame {frame_index} at {timestamp:.3f} s cannot be decoded")
            yield timestamp, frame_index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            target_index += 1  # this frame served its target; later targets it is nearest to are skipped too
            while start + target_index * step < timestamp + half_frame:
                target_index += 1
    finally:
        capture.release()
