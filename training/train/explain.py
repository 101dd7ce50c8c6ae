"""Grad-CAM for the report: example crops per (true class, correct/misclassified) group, and the share of the
pain-class map's mass inside the drawn cue masks (synthetic datasets with a mask_path column)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np

from service.synthetic.scene import cue_masks_from_labels
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
    return all_mask_shares(model, paths, masks, [None] * len(paths), input_size)[0]


def all_mask_shares(
    model: keras.Model, paths: list[Path], masks: list[Path], cue_masks: list[Path | None], input_size: int
) -> tuple[list[tuple[float, float]], dict[str, list[tuple[float, float]]]]:
    """`mask_shares` for the union mask, plus the same pair per cue group from the per-cue label masks
    (`*_cues.png`, pixel = OR of `CUE_BITS`): for each cue drawn on a crop, the share of the pain-class map's
    mass inside that cue's own pixels and that cue's area share. One Grad-CAM pass serves both."""
    if not paths:
        return [], {}
    maps = _cams(model, load_images(paths, input_size), class_index=PAIN)
    shares: list[tuple[float, float]] = []
    per_cue: dict[str, list[tuple[float, float]]] = {}
    for cam, mask_path, cue_path in zip(maps, masks, cue_masks, strict=True):
        mask = read_rgb(mask_path)[..., 0] > 127
        heat = upsample_to_crop(cam, mask.shape)
        total = float(heat.sum())
        if total <= 0:
            continue
        shares.append((float(heat[mask].sum()) / total, float(mask.mean())))
        if cue_path is None:
            continue
        for cue, cue_mask in cue_masks_from_labels(read_labels(cue_path)).items():
            if cue_mask.shape == heat.shape and cue_mask.any():
                per_cue.setdefault(cue, []).append((float(heat[cue_mask].sum()) / total, float(cue_mask.mean())))
    return shares, per_cue


def read_labels(path: Path) -> np.ndarray:
    """A single-channel uint8 label PNG exactly as written (no colour conversion)."""
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None:
        raise ValueError(f"{path}: unreadable cue mask")
    return labels if labels.ndim == 2 else labels[..., 0]
