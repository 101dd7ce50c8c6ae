"""Face keypoints and the 2-D maps that move them together with the pixels they belong to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PointMap = Callable[[np.ndarray], np.ndarray]
"""Maps an (N, 2) array of (x, y) points to another (N, 2) array."""


@dataclass(frozen=True)
class Keypoints:
    """MediaPipe's six face keypoints in pixels, (x, y), in the detector's order (subject's view)."""

    points: np.ndarray
    """(6, 2): right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion."""

    @classmethod
    def from_pairs(cls, pairs: tuple[tuple[float, float], ...]) -> Keypoints:
        if len(pairs) != 6:
            raise ValueError(f"expected the detector's 6 keypoints, got {len(pairs)}")
        return cls(np.asarray(pairs, dtype=np.float64))

    @property
    def right_eye(self) -> np.ndarray:
        return self.points[0]

    @property
    def left_eye(self) -> np.ndarray:
        return self.points[1]

    @property
    def nose(self) -> np.ndarray:
        return self.points[2]

    @property
    def mouth(self) -> np.ndarray:
        return self.points[3]

    @property
    def eye_centre(self) -> np.ndarray:
        return (self.right_eye + self.left_eye) / 2.0

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.left_eye - self.right_eye))

    def mapped(self, fn: PointMap) -> Keypoints:
        return Keypoints(np.asarray(fn(self.points), dtype=np.float64))

    def mirrored(self, width: int) -> Keypoints:
        """Keypoints of the horizontally flipped image: x flips and the subject's right/left swap."""
        flipped = self.points.copy()
        flipped[:, 0] = (width - 1) - flipped[:, 0]
        return Keypoints(flipped[[1, 0, 2, 3, 5, 4]])


@dataclass(frozen=True)
class FaceFrame:
    """A face-aligned coordinate system: (a, b) in eye distances, a along the eye line, b toward the mouth."""

    origin: np.ndarray
    unit: float
    ax: np.ndarray
    bx: np.ndarray

    @classmethod
    def of(cls, keypoints: Keypoints) -> FaceFrame:
        along = keypoints.left_eye - keypoints.right_eye
        unit = float(np.linalg.norm(along))
        ax = along / max(unit, 1e-6)
        bx = np.array([-ax[1], ax[0]])
        if float(np.dot(keypoints.mouth - keypoints.eye_centre, bx)) < 0:  # b must point toward the mouth
            bx = -bx
        return cls(origin=keypoints.eye_centre, unit=unit, ax=ax, bx=bx)

    def at(self, a: float, b: float, base: np.ndarray | None = None) -> np.ndarray:
        """The pixel at (a, b) eye distances from `base` (default: between the eyes)."""
        start = self.origin if base is None else base
        return start + self.unit * (a * self.ax + b * self.bx)

    @property
    def angle_deg(self) -> float:
        """Rotation of the eye line in image coordinates (degrees, OpenCV's ellipse convention)."""
        return float(np.degrees(np.arctan2(self.ax[1], self.ax[0])))


def affine_points(matrix: np.ndarray) -> PointMap:
    """The point map of a 2x3 affine matrix (as used by cv2.warpAffine)."""

    def apply(points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        return pts @ matrix[:, :2].T + matrix[:, 2]

    return apply
