"""Composing one synthetic bedside frame: crib background, blanket, the infant's head, cues, pacifier."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from service.synthetic.cues import CUE_DRAWERS, CUES, draw_pacifier
from service.synthetic.faces import CANONICAL_FACE_PX, SPRITE_SIDE, HeadSprite, Identity
from service.synthetic.geometry import FaceFrame, Keypoints, affine_points
from service.synthetic.pixels import blend_into

FRAME_WIDTH = 640
FRAME_HEIGHT = 480


@dataclass(frozen=True)
class Pose:
    """Where and how the head appears in one frame."""

    cx: float
    cy: float
    face_px: float
    """Side of the face (as the detector boxes it) in frame pixels."""
    angle_deg: float
    """In-plane head roll, counter-clockwise in the image."""
    brightness: float


@dataclass(frozen=True)
class RenderedFrame:
    rgb: np.ndarray
    cue_mask: np.ndarray
    """uint8 0/255, frame-sized: the visible pixels of the drawn cues (all zero without cues)."""
    keypoints: Keypoints
    cue_labels: np.ndarray | None = None
    """uint8, frame-sized: each visible cue pixel is the OR of the CUE_BITS of the cues drawn there."""


def make_background(identity: Identity) -> np.ndarray:
    """The identity's crib sheet: a gradient, stripes or checks in two of its colours."""
    first = np.asarray(identity.background_colours[0], np.float32)
    second = np.asarray(identity.background_colours[1], np.float32)
    ys, xs = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH].astype(np.float32)
    if identity.background_pattern == "stripes":
        weight = (np.sin(xs / 14.0 + ys / 40.0) > 0).astype(np.float32) * 0.6
    elif identity.background_pattern == "checks":
        weight = ((xs // 48 + ys // 48) % 2).astype(np.float32) * 0.45
    else:
        weight = ys / FRAME_HEIGHT
    image = first * (1.0 - weight[..., None]) + second * weight[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def sprite_matrix(pose: Pose) -> np.ndarray:
    """2x3 affine taking sprite pixels to frame pixels (scale and roll about the face centre)."""
    face_centre = (SPRITE_SIDE / 2.0, SPRITE_SIDE * 0.55)
    matrix = cv2.getRotationMatrix2D(face_centre, pose.angle_deg, pose.face_px / CANONICAL_FACE_PX)
    matrix[0, 2] += pose.cx - face_centre[0]
    matrix[1, 2] += pose.cy - face_centre[1]
    return matrix


def compose_frame(
    background: np.ndarray,
    sprite: HeadSprite,
    identity: Identity,
    pose: Pose,
    cues: tuple[str, ...] = (),
    cue_strength: float = 1.0,
    pacifier: bool = False,
    noise_rng: np.random.Generator | None = None,
) -> RenderedFrame:
    """Render one frame; cue and pacifier geometry comes from the sprite's keypoints moved with the head."""
    matrix = sprite_matrix(pose)
    keypoints = sprite.keypoints.mapped(affine_points(matrix))
    face = FaceFrame.of(keypoints)
    frame = background.copy()
    _draw_blanket(frame, face, identity)
    _paste_head(frame, sprite, matrix)
    # The cues one by one (what `draw_cues` does), keeping each cue's own mask for the per-cue Grad-CAM share.
    labels = cue_labels_of({cue: CUE_DRAWERS[cue](frame, keypoints, cue_strength) for cue in cues}, frame.shape)
    if pacifier:
        labels[draw_pacifier(frame, keypoints, identity.pacifier_colour)] = 0
    labels[_draw_swaddle_fold(frame, face, identity)] = 0
    frame = _light(frame, pose.brightness, noise_rng)
    mask = (labels > 0).astype(np.uint8) * 255
    return RenderedFrame(rgb=frame, cue_mask=mask, keypoints=keypoints, cue_labels=labels)


CUE_BITS: dict[str, int] = {cue: 1 << i for i, cue in enumerate(CUES)}
"""Bit of each cue in a cue-label mask (`*_cues.png`): brow_bulge 1, eye_squeeze 2, nasolabial_furrow 4,
open_mouth 8."""


def cue_labels_of(masks: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Per-cue bool masks -> one uint8 label mask, each pixel the OR of the CUE_BITS of the cues covering it."""
    labels = np.zeros(shape[:2], np.uint8)
    for cue, mask in masks.items():
        labels[mask] |= CUE_BITS[cue]
    return labels


def cue_masks_from_labels(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The inverse of `cue_labels_of`: one bool mask per cue (all cues, empty where not drawn)."""
    return {cue: (labels & bit) > 0 for cue, bit in CUE_BITS.items()}


def _paste_head(frame: np.ndarray, sprite: HeadSprite, matrix: np.ndarray) -> None:
    """Warp the sprite into the frame and alpha-blend it, working only on the head's bounding box (speed)."""
    corners = affine_points(matrix)(np.array([[0, 0], [SPRITE_SIDE, 0], [0, SPRITE_SIDE], [SPRITE_SIDE, SPRITE_SIDE]]))
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 1, frame.shape[1])
    y1 = min(int(np.ceil(corners[:, 1].max())) + 1, frame.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    local = matrix.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    head = cv2.warpAffine(sprite.rgba, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = head[..., 3].astype(np.float32) * (1.0 / 255.0)
    blend_into(frame[y0:y1, x0:x1], np.ascontiguousarray(head[..., :3]), alpha)


def _draw_blanket(frame: np.ndarray, face: FaceFrame, identity: Identity) -> None:
    """The swaddled body under the head."""
    centre = face.at(0.0, 3.6)
    axes = (int(face.unit * 3.8), int(face.unit * 2.6))
    cv2.ellipse(frame, _pt(centre), axes, face.angle_deg, 0, 360, identity.blanket_colour, -1, cv2.LINE_AA)
    accent = tuple(int(c * 0.8) for c in identity.blanket_colour)
    if identity.blanket_pattern == "stripes":
        for b in (2.4, 2.9, 3.4):
            cv2.ellipse(frame, _pt(face.at(0.0, b + 1.2)), (axes[0], int(face.unit * 1.3)), face.angle_deg,
                        200, 340, accent, max(2, int(face.unit * 0.12)), cv2.LINE_AA)  # fmt: skip
    elif identity.blanket_pattern == "dots":
        for a in (-2.4, -1.2, 0.0, 1.2, 2.4):
            for b in (2.7, 3.6):
                cv2.circle(frame, _pt(face.at(a, b)), max(2, int(face.unit * 0.15)), accent, -1, cv2.LINE_AA)


def _draw_swaddle_fold(frame: np.ndarray, face: FaceFrame, identity: Identity) -> np.ndarray:
    """The blanket's folded edge across the neck, below the chin; returns what it covers."""
    covered = np.zeros(frame.shape[:2], np.uint8)
    centre, axes = _pt(face.at(0.0, 2.45)), (int(face.unit * 2.1), int(face.unit * 0.8))
    thick = max(2, int(face.unit * 0.35))
    fold = tuple(int(min(255, c * 1.08)) for c in identity.blanket_colour)
    cv2.ellipse(frame, centre, axes, face.angle_deg, 180, 360, fold, thick, cv2.LINE_AA)
    cv2.ellipse(covered, centre, axes, face.angle_deg, 180, 360, 255, thick, cv2.LINE_AA)
    return covered > 0


def _light(frame: np.ndarray, brightness: float, noise_rng: np.random.Generator | None) -> np.ndarray:
    lit = cv2.convertScaleAbs(frame, alpha=brightness)
    if noise_rng is None:
        return lit
    # A little sensor noise (one grey field), so stills are not perfectly clean renders.
    noise = noise_rng.normal(0.0, 2.0, size=frame.shape[:2]).round().astype(np.int16)
    return np.clip(lit.astype(np.int16) + noise[..., None], 0, 255).astype(np.uint8)


def _pt(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))
