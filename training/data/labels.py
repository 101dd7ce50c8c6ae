"""Per-frame labelling by a professional for `manual` videos (DAN face 2-4: not every frame shows pain).

`label-sheet` writes the CSV to fill in and contact sheets (grids of frames with their ids) to look at;
`label-import` validates the filled CSV line by line and merges it into frames.csv atomically.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from service.errors import UserError, ValidationErrors
from service.files import write_csv_atomic
from service.vision.images import read_rgb, write_rgb
from training.data.csvfiles import read_csv_rows
from training.data.schema import FRAMES_COLUMNS, LABELS

logger = logging.getLogger(__name__)

SHEET_COLUMNS = ("frame_id", "video_id", "timestamp_s", "frame_path", "label")
SHEET_CSV = "labels_to_fill.csv"
THUMB = 200
COLUMNS_PER_SHEET = 5
ROWS_PER_SHEET = 4


@dataclass(frozen=True)
class SheetResult:
    csv_path: Path
    contact_sheets: list[Path]
    frames: int


def read_frames_csv(frames_dir: Path) -> list[dict[str, str]]:
    path = Path(frames_dir) / "frames.csv"
    if not path.is_file():
        raise UserError(f"{path}: not found; run `painwatch data extract PLAN -o {frames_dir}` first")
    return [row for _line, row in read_csv_rows(path, FRAMES_COLUMNS, FRAMES_COLUMNS)]


def pending_manual_frames(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [row for row in rows if row["label_policy"] == "manual" and not row["label"]]


def write_label_sheet(frames_dir: Path, out_dir: Path) -> SheetResult:
    """The CSV to fill in (label column empty) and one contact-sheet JPEG per page of up to 20 frames."""
    frames_dir, out_dir = Path(frames_dir), Path(out_dir)
    pending = pending_manual_frames(read_frames_csv(frames_dir))
    if not pending:
        raise UserError(f"{frames_dir}/frames.csv: no `manual` frame is waiting for a label; nothing to do")
    sheets = []
    per_sheet = COLUMNS_PER_SHEET * ROWS_PER_SHEET
    for video_id in dict.fromkeys(row["video_id"] for row in pending):
        rows = [row for row in pending if row["video_id"] == video_id]
        for page in range(math.ceil(len(rows) / per_sheet)):
            chunk = rows[page * per_sheet : (page + 1) * per_sheet]
            sheet_path = out_dir / f"contact_{video_id}_{page + 1:02d}.jpg"
            write_rgb(sheet_path, contact_sheet(frames_dir, chunk), jpeg_quality=90)
            sheets.append(sheet_path)
    sheet_rows = [{**{c: row[c] for c in SHEET_COLUMNS if c != "label"}, "label": ""} for row in pending]
    csv_path = out_dir / SHEET_CSV
    write_csv_atomic(csv_path, SHEET_COLUMNS, sheet_rows)
    return SheetResult(csv_path=csv_path, contact_sheets=sheets, frames=len(pending))


def contact_sheet(frames_dir: Path, rows: list[dict[str, str]]) -> np.ndarray:
    """A grid of thumbnails, each captioned with its frame id and time, for a professional to label."""
    caption = 34
    grid = np.full((ROWS_PER_SHEET * (THUMB + caption), COLUMNS_PER_SHEET * THUMB, 3), 255, np.uint8)
    for index, row in enumerate(rows):
        r, c = divmod(index, COLUMNS_PER_SHEET)
        image = read_rgb(frames_dir / row["frame_path"])
        scale = THUMB / max(image.shape[:2])
        thumb = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)))
        y0, x0 = r * (THUMB + caption), c * THUMB
        grid[y0 : y0 + thumb.shape[0], x0 : x0 + thumb.shape[1]] = thumb
        for line, text in enumerate((row["frame_id"][-22:], f"t = {row['timestamp_s']} s")):
            cv2.putText(grid, text, (x0 + 3, y0 + THUMB + 13 + 15 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
    return grid


def import_labels(frames_dir: Path, filled_csv: Path) -> tuple[int, int]:
    """Merge a filled label sheet into frames.csv. Returns (labelled now, still pending)."""
    frames_dir, filled_csv = Path(frames_dir), Path(filled_csv)
    rows = read_frames_csv(frames_dir)
    labels = _validated_labels(filled_csv, {row["frame_id"]: row for row in rows})
    for row in rows:
        if row["frame_id"] in labels:
            row["label"] = labels[row["frame_id"]]
    write_csv_atomic(frames_dir / "frames.csv", FRAMES_COLUMNS, rows)
    return len(labels), len(pending_manual_frames(rows))


def _validated_labels(path: Path, frames: dict[str, dict[str, str]]) -> dict[str, str]:
    if not path.is_file():
        raise UserError(f"{path}: label file not found")
    problems: list[str] = []
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for column in ("frame_id", "label"):
            if column not in (reader.fieldnames or []):
                raise ValidationErrors(str(path), [f"line 1: missing column {column!r}"])
        for line, record in enumerate(reader, start=2):
            frame_id = (record.get("frame_id") or "").strip()
            label = (record.get("label") or "").strip().lower()
            if frame_id not in frames:
                problems.append(f"line {line}: unknown frame id {frame_id!r} (not in frames.csv)")
            elif frames[frame_id]["label_policy"] != "manual":
                problems.append(
                    f"line {line}: frame {frame_id!r} comes from a `{frames[frame_id]['label_policy']}` video; "
                    "only `manual` frames are labelled by hand"
                )
            if frame_id in first_line:
                problems.append(
                    f"line {line}: frame {frame_id!r} labelled twice (first on line {first_line[frame_id]})"
                )
                continue
            first_line[frame_id] = line
            if not label:
                continue  # not labelled yet: stays pending
            if label not in LABELS:
                problems.append(f"line {line}: label {label!r} for {frame_id!r} must be one of {', '.join(LABELS)}")
                continue
            labels[frame_id] = label
    if problems:
        raise ValidationErrors(str(path), problems)
    return labels
