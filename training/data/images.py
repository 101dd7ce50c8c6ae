"""`painwatch data import-images`: image sets that are already face crops (iCOPE-like) -> `dataset.csv`.

Each image goes through the same square-crop function as detected faces, with the whole image as the face
box, so a non-square image gets the same centre-square treatment and every dataset has one crop size and
one CSV layout (datasets can then be concatenated, as the thesis does for M-PAIN + iCOPE).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from service.errors import UserError, ValidationErrors
from service.files import write_csv_atomic
from service.vision.crop import CropSpec, crop_face
from service.vision.detectors import FaceBox
from service.vision.images import read_rgb, write_rgb
from training.data.crops import (
    DATASET_CSV,
    CropNamer,
    build_output_dir,
    check_output_dir,
    safe_name,
    write_dataset_info,
)
from training.data.csvfiles import read_csv_rows
from training.data.schema import DATASET_COLUMNS, LABELS

logger = logging.getLogger(__name__)

LABELS_COLUMNS = ("path", "subject_id", "label")
PRECROPPED_DETECTOR = "none (pre-cropped)"
LABEL_ALIASES = {"pain": "pain", "nonpain": "nonpain", "1": "pain", "0": "nonpain"}
"""Accepted label spellings (case-insensitive); 1/0 follow the model's class index (1 = pain)."""


@dataclass(frozen=True)
class ImageRow:
    """One validated line of the labels CSV."""

    line: int
    path: str
    subject_id: str
    label: str


def read_labels(folder: Path, labels_csv: Path) -> list[ImageRow]:
    """Validate every line of the labels CSV in one pass; all problems are reported together."""
    folder, labels_csv = Path(folder), Path(labels_csv)
    if not folder.is_dir():
        raise UserError(f"{folder}: image folder not found")
    rows = read_csv_rows(labels_csv, LABELS_COLUMNS, LABELS_COLUMNS)
    problems: list[str] = []
    seen: dict[str, int] = {}
    images: list[ImageRow] = []
    for line, row in rows:
        path, subject, raw_label = row["path"], row["subject_id"], row["label"]
        label = LABEL_ALIASES.get(raw_label.lower())
        line_problems = _check_line(folder, path, subject, raw_label, label, seen.get(path))
        problems.extend(f"line {line}: {p}" for p in line_problems)
        seen.setdefault(path, line)
        if not line_problems and label is not None:
            images.append(ImageRow(line=line, path=path, subject_id=subject, label=label))
    if problems:
        raise ValidationErrors(str(labels_csv), problems)
    return images


def _check_line(
    folder: Path, path: str, subject: str, raw_label: str, label: str | None, first_line: int | None
) -> list[str]:
    problems: list[str] = []
    if label is None:
        problems.append(f"unknown label {raw_label!r} (expected {', '.join(LABELS)}, 1 or 0)")
    if not subject:
        problems.append("empty subject_id")
    if not path:
        return [*problems, "empty path"]
    if first_line is not None:
        problems.append(f"duplicate path {path!r} (first on line {first_line})")
        return problems
    image_file = folder / path
    if not image_file.is_file():
        problems.append(f"image file {image_file} not found")
    elif cv2.imread(str(image_file), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        # a reduced decode is enough to prove the file is an image, and much cheaper than a full one
        problems.append(f"{image_file}: not a readable image")
    return problems


def frame_id_for(name: str, path: str) -> str:
    """`<name>_<path without extension>`; the folder part keeps ids unique when file names repeat."""
    return f"{name}_{safe_name(str(Path(path).with_suffix('')))}"


def import_images(
    folder: Path,
    labels_csv: Path,
    out_dir: Path,
    name: str = "icope",
    size: int = 224,
    force: bool = False,
    show_progress: bool = True,
) -> int:
    """Write DATASET_DIR (crops + dataset.csv) from a folder of face images; returns the number of crops."""
    folder = Path(folder)
    if not name or safe_name(name) != name:
        raise UserError(f"dataset name {name!r}: use only letters, digits, '.', '_' or '-'")
    images = read_labels(folder, labels_csv)
    spec = CropSpec(size=size, margin=0.0)  # the image is the face box; the square is clamped to it anyway
    check_output_dir(out_dir, force)
    namer = CropNamer()
    rows: list[dict[str, Any]] = []
    with build_output_dir(out_dir, force) as tmp:
        for image in tqdm(images, desc=f"import ({name})", unit="image", disable=not show_progress):
            rows.append(_import_one(folder, image, tmp, name, spec, namer))
        write_csv_atomic(tmp / DATASET_CSV, DATASET_COLUMNS, rows)
        write_dataset_info(
            tmp,
            {"step": "painwatch data import-images", "folder": str(folder.resolve()), "name": name,
             "detector": PRECROPPED_DETECTOR, "crop": spec.as_dict(), "crops": len(rows)},
        )  # fmt: skip
    logger.debug("%s: %d crops from %s", out_dir, len(rows), folder)
    return len(rows)


def _import_one(
    folder: Path, image: ImageRow, out_dir: Path, name: str, spec: CropSpec, namer: CropNamer
) -> dict[str, Any]:
    rgb = read_rgb(folder / image.path)
    height, width = rgb.shape[:2]
    crop, region = crop_face(rgb, FaceBox(0, 0, width, height, 1.0), spec)
    frame_id = frame_id_for(name, image.path)
    crop_path = namer(image.label, frame_id)
    write_rgb(out_dir / crop_path, crop, jpeg_quality=95)
    return {
        "crop_path": crop_path, "frame_id": frame_id, "video_id": "",
        "infant_id": f"{name}_{image.subject_id}", "label": image.label, "detector": PRECROPPED_DETECTOR,
        "score": "1.0000",
        "x": region.x, "y": region.y, "w": region.side, "h": region.side, "source": name,
    }  # fmt: skip
