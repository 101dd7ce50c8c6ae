"""Real face crops for export checks: from a dataset.csv, or a real photo that ships in scikit-image."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from service.errors import UserError
from service.vision.crop import CropSpec, crop_face
from service.vision.detectors import FaceBox
from service.vision.images import read_rgb
from training.data.schema import LABELS

logger = logging.getLogger(__name__)

ASTRONAUT_FACE: Final = FaceBox(x=177, y=82, w=95, h=95, score=1.0)
"""The face in `skimage.data.astronaut()` (about x 177, y 82, 95x95)."""


@dataclass(frozen=True)
class CropRow:
    path: Path
    label: int
    infant_id: str


def read_dataset(csv_path: Path) -> list[CropRow]:
    """Rows of a dataset.csv (crop_path relative to the CSV's folder); bad files/columns raise UserError."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"{csv_path}: dataset file not found")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"crop_path", "label", "infant_id"} - set(reader.fieldnames or [])
        if missing:
            raise UserError(f"{csv_path}: not a dataset.csv: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for line, record in enumerate(reader, start=2):
            if record["label"] not in LABELS:
                raise UserError(f"{csv_path}:{line}: label {record['label']!r} is not one of {', '.join(LABELS)}")
            rows.append(
                CropRow(csv_path.parent / record["crop_path"], LABELS.index(record["label"]), record["infant_id"])
            )
    if not rows:
        raise UserError(f"{csv_path}: the dataset has no rows")
    return rows


def load_crops(rows: list[CropRow], input_size: int) -> np.ndarray:
    """The crops as float32 RGB 0-255 [N, S, S, 3], resized to the model input when needed."""
    images = [_fit(read_rgb(row.path), input_size) for row in rows]
    return np.stack(images).astype(np.float32)


def _fit(rgb: np.ndarray, size: int) -> np.ndarray:
    if rgb.shape[:2] == (size, size):
        return rgb
    interpolation = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def balanced_sample(rows: list[CropRow], limit: int, seed: int = 0) -> list[CropRow]:
    """Up to `limit` rows, alternating classes so both are represented when the data has both."""
    rng = np.random.default_rng(seed)
    per_class = [[r for r in rows if r.label == c] for c in range(len(LABELS))]
    for group in per_class:
        rng.shuffle(group)
    picked: list[CropRow] = []
    while len(picked) < limit and any(per_class):
        for group in per_class:
            if group and len(picked) < limit:
                picked.append(group.pop())
    return picked


def astronaut_crops(input_size: int) -> np.ndarray:
    """The astronaut's face crop and its mirror image, float32 [2, S, S, 3] (real photos, no dataset needed)."""
    from skimage import data  # imported here: only export checks need it

    crop, _ = crop_face(data.astronaut(), ASTRONAUT_FACE, CropSpec(size=input_size))
    return np.stack([crop, crop[:, ::-1]]).astype(np.float32)


def check_labels(dataset: Path | None, limit: int = 8) -> np.ndarray | None:
    """The labels (1 = pain) of the crops `check_images` picks from `dataset`, in the same order; None without one."""
    if dataset is None:
        return None
    return np.array([row.label for row in balanced_sample(read_dataset(dataset), limit)])


def check_images(input_size: int, dataset: Path | None, limit: int = 8) -> tuple[np.ndarray, str]:
    """(images, description) for parity checks: dataset crops if given, else the astronaut crops."""
    if dataset is None:
        return astronaut_crops(input_size), "skimage.data.astronaut() face crop and its mirror"
    rows = balanced_sample(read_dataset(dataset), limit)
    return load_crops(rows, input_size), f"{len(rows)} crops from {dataset}"
