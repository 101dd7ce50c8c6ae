"""`painwatch data crop`: extracted frames -> square face crops + `dataset.csv` + `no_face.csv`.

Every labelled frame ends up in exactly one of the two CSVs, so a frame without a face is never silently
dropped (the thesis reports that rate per detector, Table 4.1). Frames still awaiting manual labels are
skipped and counted. The output folder is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from service.errors import UserError, ValidationErrors
from service.files import atomic_dir, write_csv_atomic
from service.vision.crop import CropSpec, crop_face
from service.vision.detectors import FaceBox, FaceDetector, best_face, create_detector
from service.vision.images import read_rgb, write_rgb
from training.data.csvfiles import read_csv_rows
from training.data.schema import DATASET_COLUMNS, FRAMES_COLUMNS, LABELS, NO_FACE_COLUMNS

logger = logging.getLogger(__name__)

FRAMES_CSV = "frames.csv"
DATASET_CSV = "dataset.csv"
NO_FACE_CSV = "no_face.csv"
DATASET_INFO_JSON = "dataset.json"
CROPS_SUBDIR = "crops"
LABEL_IMPORT_COMMAND = "painwatch data label-import"
DEFAULT_SOURCE = "video"

FRAMES_REQUIRED_COLUMNS = ("frame_id", "video_id", "infant_id", "frame_path", "label")
"""The frames.csv columns this step reads (timestamps and policies are not needed to crop)."""


@dataclass(frozen=True)
class FrameRow:
    """One line of frames.csv, as cropping needs it."""

    line: int
    frame_id: str
    video_id: str
    infant_id: str
    frame_path: str
    label: str
    source: str


@dataclass
class CropSummary:
    """What one `data crop` run produced."""

    crops: int = 0
    no_face: int = 0
    skipped_unlabelled: int = 0
    no_face_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return self.crops + self.no_face

    @property
    def no_face_pct(self) -> float:
        return 100.0 * self.no_face / self.attempted if self.attempted else 0.0

    def line(self) -> str:
        return (
            f"{self.crops} crops, {self.no_face} frames without a face ({self.no_face_pct:.1f}%), "
            f"{self.skipped_unlabelled} unlabelled frames skipped"
        )


# --- input ----------------------------------------------------------------------------------------


def read_frames(frames_dir: Path, default_source: str = DEFAULT_SOURCE) -> list[FrameRow]:
    """The frames of FRAMES_DIR/frames.csv, validated in one pass (every bad line reported together)."""
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        raise UserError(f"{frames_dir}: frames folder not found")
    csv_path = frames_dir / FRAMES_CSV
    if not csv_path.is_file():
        raise UserError(
            f"{frames_dir}: has no {FRAMES_CSV}; expected the output of `painwatch data extract` "
            f"(columns: {', '.join(FRAMES_COLUMNS)})"
        )
    rows = read_csv_rows(csv_path, FRAMES_REQUIRED_COLUMNS, FRAMES_COLUMNS)
    problems: list[str] = []
    seen: dict[str, int] = {}
    frames: list[FrameRow] = []
    for line, row in rows:
        frame_id, label, frame_path = row["frame_id"], row["label"].lower(), row["frame_path"]
        if not frame_id:
            problems.append(f"line {line}: empty frame_id")
        elif frame_id in seen:
            problems.append(f"line {line}: duplicate frame_id {frame_id!r} (first on line {seen[frame_id]})")
        else:
            seen[frame_id] = line
        if not frame_path:
            problems.append(f"line {line}: empty frame_path")
        if label and label not in LABELS:
            expected = " or ".join(LABELS)
            problems.append(f"line {line}: unknown label {row['label']!r} (expected {expected}, or empty)")
        frames.append(
            FrameRow(
                line=line,
                frame_id=frame_id,
                video_id=row["video_id"],
                infant_id=row["infant_id"],
                frame_path=frame_path,
                label=label,
                source=row.get("source") or default_source,
            )
        )
    if problems:
        raise ValidationErrors(str(csv_path), problems)
    return frames


# --- output folder --------------------------------------------------------------------------------


def check_output_dir(out_dir: Path, force: bool) -> None:
    """Refuse to overwrite a non-empty output unless forced (checked before any work is done)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise UserError(f"{out_dir}: already exists and is not empty; pass --force to replace it")


@contextmanager
def build_output_dir(out_dir: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary folder that replaces `out_dir` only if the block completes.

    rename() cannot replace a non-empty folder, so with --force the old one is moved aside just before the
    rename and deleted after it; a failed build leaves the old output untouched.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir, force)
    trash: Path | None = None
    with atomic_dir(out_dir) as tmp:
        yield tmp
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.replace(out_dir, trash / out_dir.name)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def safe_name(text: str) -> str:
    """A file-name-safe version of an id (ids may hold slashes or spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "item"


class CropNamer:
    """Unique crop file names `crops/<label>/<id>.jpg` (sanitising could make two ids collide)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, label: str, ident: str) -> str:
        base = f"{CROPS_SUBDIR}/{safe_name(label)}/{safe_name(ident)}"
        name, n = f"{base}.jpg", 1
        while name in self._used:
            n += 1
            name = f"{base}-{n}.jpg"
        self._used.add(name)
        return name


def write_dataset_info(folder: Path, info: dict[str, Any]) -> None:
    """dataset.json: how the crops were made (the crop spec is part of the model contract)."""
    info = {"created": datetime.now(UTC).isoformat(timespec="seconds"), **info}
    (folder / DATASET_INFO_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


# --- cropping -------------------------------------------------------------------------------------


def detect_best_face(detector: FaceDetector, rgb: np.ndarray, min_score: float) -> FaceBox | None:
    """The face to crop, or None. The score floor is applied here too because Haar ignores min_score."""
    faces = [f for f in detector.detect(rgb) if f.score >= min_score and f.w > 0 and f.h > 0]
    return best_face(faces)


def crop_frames(
    frames_dir: Path,
    out_dir: Path,
    detector_name: str = "mediapipe-short",
    spec: CropSpec | None = None,
    min_score: float = 0.5,
    models_dir: Path | None = None,
    force: bool = False,
    default_source: str = DEFAULT_SOURCE,
    show_progress: bool = True,
) -> CropSummary:
    """Crop the face of every labelled frame in FRAMES_DIR into DATASET_DIR (see module docstring)."""
    frames_dir, spec = Path(frames_dir), spec or CropSpec()
    frames = read_frames(frames_dir, default_source)
    check_output_dir(out_dir, force)  # fail before the (slow) detector start-up
    labelled = [f for f in frames if f.label]
    summary = CropSummary(skipped_unlabelled=len(frames) - len(labelled))
    if summary.skipped_unlabelled:
        logger.warning(
            "%d of %d frames have no label yet and are skipped; label them with `%s`",
            summary.skipped_unlabelled, len(frames), LABEL_IMPORT_COMMAND,
        )  # fmt: skip
    detector = create_detector(detector_name, mode="image", min_score=min_score, models_dir=models_dir)
    dataset_rows: list[dict[str, Any]] = []
    no_face_rows: list[dict[str, Any]] = []
    namer = CropNamer()
    try:
        with build_output_dir(out_dir, force) as tmp:
            progress = tqdm(labelled, desc=f"crop ({detector_name})", unit="frame", disable=not show_progress)
            for frame in progress:
                row, reason = _crop_one(frame, frames_dir, tmp, detector, min_score, spec, namer)
                if row is not None:
                    dataset_rows.append(row)
                    continue
                summary.no_face_reasons[reason] = summary.no_face_reasons.get(reason, 0) + 1
                no_face_rows.append(
                    {"frame_id": frame.frame_id, "frame_path": frame.frame_path, "video_id": frame.video_id,
                     "infant_id": frame.infant_id, "reason": reason}
                )  # fmt: skip
            summary.crops, summary.no_face = len(dataset_rows), len(no_face_rows)
            write_csv_atomic(tmp / DATASET_CSV, DATASET_COLUMNS, dataset_rows)
            write_csv_atomic(tmp / NO_FACE_CSV, NO_FACE_COLUMNS, no_face_rows)
            write_dataset_info(
                tmp,
                {"step": "painwatch data crop", "frames_dir": str(frames_dir.resolve()),
                 "detector": detector_name, "min_score": min_score, "crop": spec.as_dict(),
                 "crops": summary.crops, "no_face": summary.no_face,
                 "skipped_unlabelled": summary.skipped_unlabelled},
            )  # fmt: skip
    finally:
        detector.close()
    logger.debug("%s: %s", out_dir, summary.line())
    return summary


def _crop_one(
    frame: FrameRow,
    frames_dir: Path,
    out_dir: Path,
    detector: FaceDetector,
    min_score: float,
    spec: CropSpec,
    namer: CropNamer,
) -> tuple[dict[str, Any] | None, str]:
    """(dataset row, "") for a cropped frame, or (None, reason) for a frame that gave no crop."""
    path = frames_dir / frame.frame_path
    if not path.is_file():
        logger.warning("line %d: %s: image file not found", frame.line, path)
        return None, "image file not found"
    try:
        rgb = read_rgb(path)
    except UserError as exc:
        logger.warning("line %d: %s", frame.line, exc)
        return None, "unreadable image"
    face = detect_best_face(detector, rgb, min_score)
    if face is None:
        return None, f"no face detected by {detector.name}"
    crop, region = crop_face(rgb, face, spec)
    crop_path = namer(frame.label, frame.frame_id)
    write_rgb(out_dir / crop_path, crop, jpeg_quality=95)
    row = {
        "crop_path": crop_path, "frame_id": frame.frame_id, "video_id": frame.video_id,
        "infant_id": frame.infant_id, "label": frame.label, "detector": detector.name,
        "score": f"{face.score:.4f}", "x": region.x, "y": region.y, "w": region.side, "h": region.side,
        "source": frame.source,
    }  # fmt: skip
    return row, ""
