"""Localized pain cues drawn on a face at its keypoints, each returning the pixel mask it covers.

Cue shapes follow the facial actions of infant pain scales (brow bulge, eye squeeze, nasolabial furrow,
open mouth). Everything is placed in a face-aligned frame (eye distances), so cues follow pose and scale.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from service.synthetic.geometry import FaceFrame, Keypoints
from service.synthetic.pixels import blend_into

CUES: tuple[str, ...] = ("brow_bulge", "eye_squeeze", "nasolabial_furrow", "open_mouth")
MOUTH_CUES = frozenset({"open_mouth"})
"""Cues a pacifier hides (it is never drawn together with them)."""

Colour = tuple[int, int, int]


def _pt(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))


def _thick(face: FaceFrame, fraction: float) -> int:
    return max(1, round(face.unit * fraction))


def _skin_colour(frame: np.ndarray, point: np.ndarray) -> Colour:
    """Median colour of a small patch (the cheek), so painted-over skin matches the face."""
    x, y = _pt(point)
    h, w = frame.shape[:2]
    patch = frame[max(0, y - 4) : min(h, y + 5), max(0, x - 4) : min(w, x + 5)].reshape(-1, 3)
    if patch.size == 0:
        return (200, 160, 140)
    median = np.median(patch, axis=0)
    return int(median[0]), int(median[1]), int(median[2])


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)  # type: ignore[return-value]


def _blend(frame: np.ndarray, layer: np.ndarray, coverage: np.ndarray, strength: float) -> None:
    """Alpha-blend the painted layer into the frame where coverage > 0 (only inside its bounding box)."""
    x, y, w, h = cv2.boundingRect(coverage)
    if w == 0 or h == 0:
        return
    alpha = coverage[y : y + h, x : x + w].astype(np.float32) * (strength / 255.0)
    blend_into(frame[y : y + h, x : x + w], layer[y : y + h, x : x + w], alpha)


def _polyline(face: FaceFrame, pairs: list[tuple[float, float]], base: np.ndarray | None = None) -> np.ndarray:
    return np.array([_pt(face.at(a, b, base)) for a, b in pairs], dtype=np.int32)


def draw_brow_bulge(frame: np.ndarray, kp: Keypoints, strength: float) -> np.ndarray:
    """Lowered, drawn-together brows with vertical furrows and a bulge between them."""
    face = FaceFrame.of(kp)
    layer, coverage = frame.copy(), np.zeros(frame.shape[:2], np.uint8)
    skin = _skin_colour(frame, face.at(0.0, -0.55))
    centre, axes, angle = _pt(face.at(0.0, -0.46)), (_thick(face, 0.28), _thick(face, 0.17)), face.angle_deg
    cv2.ellipse(layer, centre, axes, angle, 0, 360, _shade(skin, 1.12), -1, cv2.LINE_AA)
    cv2.ellipse(coverage, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    dark, thick = _shade(skin, 0.45), _thick(face, 0.05)
    for a in (-0.1, 0.1):  # vertical furrows
        line = _polyline(face, [(a, -0.6), (a * 0.7, -0.45), (a, -0.3)])
        cv2.polylines(layer, [line], False, dark, thick, cv2.LINE_AA)
        cv2.polylines(coverage, [line], False, 255, thick + 2, cv2.LINE_AA)
    brow, brow_thick = _shade(skin, 0.3), _thick(face, 0.09)
    for sign in (-1.0, 1.0):  # brows slanting down toward the nose
        line = _polyline(face, [(sign * 0.2, -0.33), (sign * 0.45, -0.42), (sign * 0.72, -0.45)])
        cv2.polylines(layer, [line], False, brow, brow_thick, cv2.LINE_AA)
        cv2.polylines(coverage, [line], False, 255, brow_thick + 2, cv2.LINE_AA)
    _blend(frame, layer, coverage, strength)
    return coverage > 0


def draw_eye_squeeze(frame: np.ndarray, kp: Keypoints, strength: float) -> np.ndarray:
    """Eyes squeezed shut: lids painted with skin, a dark closed-lid crease, wrinkles at the corners."""
    face = FaceFrame.of(kp)
    layer, coverage = frame.copy(), np.zeros(frame.shape[:2], np.uint8)
    angle = face.angle_deg
    for eye, outward in ((kp.right_eye, -1.0), (kp.left_eye, 1.0)):
        skin = _skin_colour(frame, face.at(0.0, 0.45, eye))
        axes = (_thick(face, 0.27), _thick(face, 0.14))
        cv2.ellipse(layer, _pt(eye), axes, angle, 0, 360, _shade(skin, 0.92), -1, cv2.LINE_AA)
        cv2.ellipse(coverage, _pt(eye), axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
        dark, thick = _shade(skin, 0.3), _thick(face, 0.06)
        crease = _polyline(face, [(-0.26, -0.02), (0.0, 0.05), (0.26, -0.02)], eye)
        cv2.polylines(layer, [crease], False, dark, thick, cv2.LINE_AA)
        for db in (-0.08, 0.0, 0.08):  # crow's feet at the outer corner
            line = _polyline(face, [(outward * 0.3, db * 0.5), (outward * 0.45, db * 1.6)], eye)
            cv2.polylines(layer, [line], False, _shade(skin, 0.55), _thick(face, 0.03), cv2.LINE_AA)
            cv2.polylines(coverage, [line], False, 255, _thick(face, 0.03) + 2, cv2.LINE_AA)
    _blend(frame, layer, coverage, strength)
    return coverage > 0


def draw_nasolabial_furrow(frame: np.ndarray, kp: Keypoints, strength: float) -> np.ndarray:
    """Deep furrows from beside the nose wings down past the mouth corners."""
    face = FaceFrame.of(kp)
    layer, coverage = frame.copy(), np.zeros(frame.shape[:2], np.uint8)
    skin = _skin_colour(frame, face.at(0.55, 0.1, kp.nose))
    dark, light = _shade(skin, 0.4), _shade(skin, 1.15)
    thick = _thick(face, 0.06)
    for sign in (-1.0, 1.0):
        nose_side, mouth_side = face.at(sign * 0.28, -0.02, kp.nose), face.at(sign * 0.42, 0.12, kp.mouth)
        bulge = (nose_side + mouth_side) / 2.0 + face.unit * sign * 0.12 * face.ax
        curve = np.array([_pt(_bezier(nose_side, bulge, mouth_side, t)) for t in np.linspace(0, 1, 12)],
                         dtype=np.int32)  # fmt: skip
        highlight = curve + np.array(_pt(face.unit * sign * 0.07 * face.ax), dtype=np.int32)
        cv2.polylines(layer, [highlight], False, light, thick, cv2.LINE_AA)
        cv2.polylines(layer, [curve], False, dark, thick, cv2.LINE_AA)
        for line in (curve, highlight):
            cv2.polylines(coverage, [line], False, 255, thick + 2, cv2.LINE_AA)
    _blend(frame, layer, coverage, strength)
    return coverage > 0


def draw_open_mouth(frame: np.ndarray, kp: Keypoints, strength: float) -> np.ndarray:
    """A crying mouth: wide open, dark inside, lips around it and the tongue at the bottom."""
    face = FaceFrame.of(kp)
    layer, coverage = frame.copy(), np.zeros(frame.shape[:2], np.uint8)
    centre, angle = face.at(0.0, 0.05, kp.mouth), face.angle_deg
    outer = (_thick(face, 0.4), _thick(face, 0.28))
    inner = (_thick(face, 0.33), _thick(face, 0.21))
    cv2.ellipse(layer, _pt(centre), outer, angle, 0, 360, (190, 95, 100), -1, cv2.LINE_AA)
    cv2.ellipse(layer, _pt(centre), inner, angle, 0, 360, (70, 20, 30), -1, cv2.LINE_AA)
    tongue = face.at(0.0, 0.13, centre)
    cv2.ellipse(layer, _pt(tongue), (_thick(face, 0.2), _thick(face, 0.09)), angle, 180, 360, (205, 105, 115),
                -1, cv2.LINE_AA)  # fmt: skip
    cv2.ellipse(coverage, _pt(centre), outer, angle, 0, 360, 255, -1, cv2.LINE_AA)
    _blend(frame, layer, coverage, strength)
    return coverage > 0


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, t: float) -> np.ndarray:
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t * t * p2


CUE_DRAWERS: dict[str, Callable[[np.ndarray, Keypoints, float], np.ndarray]] = {
    "brow_bulge": draw_brow_bulge,
    "eye_squeeze": draw_eye_squeeze,
    "nasolabial_furrow": draw_nasolabial_furrow,
    "open_mouth": draw_open_mouth,
}


def draw_cues(frame: np.ndarray, kp: Keypoints, cues: tuple[str, ...], strength: float) -> np.ndarray:
    """Draw the named cues in place; returns the union of their masks (bool, frame-sized)."""
    union = np.zeros(frame.shape[:2], bool)
    for cue in cues:
        union |= CUE_DRAWERS[cue](frame, kp, strength)
    return union


def draw_pacifier(frame: np.ndarray, kp: Keypoints, colour: Colour) -> np.ndarray:
    """A pacifier over the mouth (shield, button and ring, as in the M-PAIN newborns); returns what it hides."""
    face = FaceFrame.of(kp)
    occluded = np.zeros(frame.shape[:2], np.uint8)
    centre, angle = _pt(face.at(0.0, 0.03, kp.mouth)), face.angle_deg
    shield = (_thick(face, 0.5), _thick(face, 0.3))
    for target, value in ((frame, colour), (occluded, 255)):
        cv2.ellipse(target, centre, shield, angle, 0, 360, value, -1, cv2.LINE_AA)
    cv2.ellipse(frame, centre, shield, angle, 0, 360, _shade(colour, 0.75), _thick(face, 0.04), cv2.LINE_AA)
    cv2.circle(frame, centre, _thick(face, 0.12), _shade(colour, 0.85), -1, cv2.LINE_AA)
    ring_centre = _pt(face.at(0.0, 0.12, kp.mouth))
    ring_radius, ring_thick = _thick(face, 0.2), _thick(face, 0.06)
    cv2.circle(frame, ring_centre, ring_radius, _shade(colour, 0.9), ring_thick, cv2.LINE_AA)
    cv2.circle(occluded, ring_centre, ring_radius, 255, ring_thick, cv2.LINE_AA)
    return occluded > 0
