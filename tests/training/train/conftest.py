"""Tiny real-image datasets for the trainer tests: face crops of two real photos, pain = drawn dark cues."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.vision.images import write_mask, write_rgb
from training.data.schema import DATASET_COLUMNS

DatasetMaker = Callable[..., Path]
CROP_SIZE = 80  # not the 64 px model input: the pipeline's resize path runs too


def _base_faces() -> list[np.ndarray]:
    from matplotlib import cbook
    from skimage import data

    astronaut = data.astronaut()[70:190, 165:285]  # face at about x 177, y 82, 95x95
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
    hopper = cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB)[60:300, 140:380]
    return [cv2.resize(face, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA) for face in (astronaut, hopper)]


def _draw_cue(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark 'brow bulge' and 'open mouth' shapes; returns their mask (uint8 0/255)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    s = CROP_SIZE
    jitter = rng.integers(-2, 3, size=2)
    cv2.ellipse(mask, (s // 2 + int(jitter[0]), int(s * 0.78)), (s // 7, s // 12), 0, 0, 360, 255, -1)
    cv2.line(mask, (int(s * 0.3), int(s * 0.3) + int(jitter[1])), (int(s * 0.7), int(s * 0.3)), 255, 4)
    image[mask > 0] = (image[mask > 0] * 0.15).astype(np.uint8)
    return mask


@pytest.fixture
def make_dataset(tmp_path: Path) -> DatasetMaker:
    """Write crops/ + dataset.csv; each infant = one base photo, shifted and tinted; pain crops carry cues."""
    faces = _base_faces()

    def make(
        name: str = "cohort",
        infants: int = 8,
        per_infant: int = 4,
        pain_per_infant: int = 2,
        masks: bool = True,
        seed: int = 0,
        source: str = "synthetic",
    ) -> Path:
        rng = np.random.default_rng(seed)
        folder = tmp_path / name
        (folder / "crops").mkdir(parents=True)
        rows = []
        for infant in range(infants):
            base = faces[infant % 2]
            tint = rng.uniform(0.8, 1.2, size=3)
            for k in range(per_infant):
                shift = rng.integers(-3, 4, size=2)
                image = np.roll(base, tuple(int(v) for v in shift), axis=(0, 1))
                image = np.clip(image * tint, 0, 255).astype(np.uint8)
                pain = k < pain_per_infant
                mask = _draw_cue(image, rng) if pain else np.zeros(image.shape[:2], np.uint8)
                stem = f"crops/i{infant}_{k}"
                write_rgb(folder / f"{stem}.jpg", image)
                row = {c: "" for c in DATASET_COLUMNS}
                row.update(
                    crop_path=f"{stem}.jpg", frame_id=f"{name}_{infant}_{k}", video_id=f"v{infant}",
                    infant_id=f"infant{infant:02d}", label="pain" if pain else "nonpain", detector="test",
                    score="1.0", x="0", y="0", w=str(CROP_SIZE), h=str(CROP_SIZE), source=source,
                )  # fmt: skip
                if masks:
                    write_mask(folder / f"{stem}_mask.png", mask)
                    row["mask_path"] = f"{stem}_mask.png"
                rows.append(row)
        columns = [*DATASET_COLUMNS, *(["mask_path"] if masks else [])]
        with open(folder / "dataset.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return folder / "dataset.csv"

    return make


ConfigMaker = Callable[..., Path]
TINY = """extends: {preset}
seed: 7
model: {{input_size: 64}}
training: {{batch_size: 8, max_epochs: {epochs}, early_stopping: {{patience: 2}}}}
evaluation: {{folds: {folds}}}
report: {{gradcam_per_group: 2}}
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> ConfigMaker:
    """A 64 px, 2-fold, 2-epoch config file on top of a preset; `extra` YAML lines are appended."""

    def make(preset: str = "mpain", folds: int = 2, epochs: int = 2, extra: str = "", name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(TINY.format(preset=preset, folds=folds, epochs=epochs) + extra, encoding="utf-8")
        return path

    return make
