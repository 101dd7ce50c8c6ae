"""Grad-CAM for the report: example crops per (true class, correct/misclassified) group, and the share of the
pain-class map's mass inside the drawn cue masks (synthetic datasets with a mask_path column)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from service.vision.heatmap import upsample_to_crop
from service.vision.images import read_rgb
from training.data.schema import LABELS
from training.model.gradcam import gradcam_reference
from training.train.data import load_images

logger = logging.getLogger(__name__)

PAIN = LABELS.index("pain")
BATCH = 16


@dataclass
class CamExample:
    fold: int
    path: str
    crop: np.ndarray
    """uint8 RGB at the model input size."""
    cam: np.ndarray
    """Grad-CAM of the predicted class at the conv5_3 grid, [0, 1]."""
    true: int
    pred: int
    pain_prob: float

    @property
    def group(self) -> str:
        return f"{LABELS[self.true]} {'correct' if self.true == self.pred else 'misclassified'}"


def group_order() -> list[str]:
    return [f"{label} {kind}" for label in reversed(LABELS) for kind in ("correct", "misclassified")]


def pick_examples(y_true: np.ndarray, y_pred: np.ndarray, per_group: int) -> list[int]:
    """Positions of up to `per_group` test crops of each (true class, correct/wrong) group, in test order."""
    picked: list[int] = []
    for label in range(len(LABELS)):
        for correct in (True, False):
            hits = np.flatnonzero((y_true == label) & ((y_pred == y_true) == correct))
            picked.extend(int(i) for i in hits[:per_group])
    return sorted(picked)


def cam_examples(
    model: keras.Model,
    fold: int,
    paths: list[Path],
    y_true: np.ndarray,
    pain_prob: np.ndarray,
    input_size: int,
    per_group: int,
) -> list[CamExample]:
    y_pred = (pain_prob >= 0.5).astype(int)
    positions = pick_examples(y_true, y_pred, per_group)
    if not positions:
        return []
    images = load_images([paths[i] for i in positions], input_size)
    maps = _cams(model, images)  # [N, 2, H, W]
    return [
        CamExample(
            fold=fold,
            path=str(paths[i]),
            crop=np.clip(np.round(images[k]), 0, 255).astype(np.uint8),
            cam=maps[k, y_pred[i]],
            true=int(y_true[i]),
            pred=int(y_pred[i]),
            pain_prob=float(pain_prob[i]),
        )
        for k, i in enumerate(positions)
    ]


def _cams(model: keras.Model, images: np.ndarray, class_index: int | None = None) -> np.ndarray:
    parts = [gradcam_reference(model, images[i : i + BATCH], class_index) for i in range(0, len(images), BATCH)]
    return np.concatenate(parts)


def mask_shares(model: keras.Model, paths: list[Path], masks: list[Path], input_size: int) -> list[tuple[float, float]]:
    """Per pain crop: (pain-class Grad-CAM mass inside its cue mask / total mass, mask area / crop area).

    The map is upsampled to the mask's size. Crops whose map is all zero carry no mass and are skipped.
    """
    if not paths:
        return []
    maps = _cams(model, load_images(paths, input_size), class_index=PAIN)
    shares = []
    for cam, mask_path in zip(maps, masks, strict=True):
        mask = read_rgb(mask_path)[..., 0] > 127
        heat = upsample_to_crop(cam, mask.shape)
        total = float(heat.sum())
        if total > 0:
            shares.append((float(heat[mask].sum()) / total, float(mask.mean())))
    return shares
