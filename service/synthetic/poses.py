"""Per-frame head pose: independent jitter for stills, smooth drifting motion for videos.

Ranges are tuned so MediaPipe short-range keeps finding the face: face side ~150-260 px in a 640x480 frame,
roll within ±15°.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.synthetic.faces import Identity
from service.synthetic.scene import FRAME_HEIGHT, FRAME_WIDTH, Pose

MAX_ROLL_DEG = 15.0


def still_pose(identity: Identity, rng: np.random.Generator) -> Pose:
    """An independent random pose for one still frame."""
    return Pose(
        cx=FRAME_WIDTH / 2.0 + rng.uniform(-90.0, 90.0),
        cy=FRAME_HEIGHT / 2.0 + rng.uniform(-35.0, 30.0),
        face_px=float(np.clip(identity.face_px * rng.uniform(0.85, 1.2), 150.0, 260.0)),
        angle_deg=rng.uniform(-MAX_ROLL_DEG, MAX_ROLL_DEG),
        brightness=rng.uniform(0.85, 1.15),
    )


@dataclass(frozen=True)
class Motion:
    """A video's slow head motion: a base pose plus sinusoidal drifts with random periods and phases."""

    base: Pose
    periods_s: np.ndarray
    phases: np.ndarray

    @classmethod
    def random(cls, identity: Identity, rng: np.random.Generator) -> Motion:
        base = Pose(
            cx=FRAME_WIDTH / 2.0 + rng.uniform(-50.0, 50.0),
            cy=FRAME_HEIGHT / 2.0 + rng.uniform(-20.0, 15.0),
            face_px=identity.face_px * rng.uniform(0.95, 1.05),
            angle_deg=rng.uniform(-5.0, 5.0),
            brightness=rng.uniform(0.95, 1.05),
        )
        return cls(base=base, periods_s=rng.uniform(3.0, 9.0, size=5), phases=rng.uniform(0, 2 * np.pi, size=5))

    def at(self, t: float) -> Pose:
        wave = np.sin(2.0 * np.pi * t / self.periods_s + self.phases)
        return Pose(
            cx=self.base.cx + 25.0 * wave[0],
            cy=self.base.cy + 12.0 * wave[1],
            face_px=float(np.clip(self.base.face_px * (1.0 + 0.06 * wave[2]), 150.0, 260.0)),
            angle_deg=float(np.clip(self.base.angle_deg + 8.0 * wave[3], -MAX_ROLL_DEG, MAX_ROLL_DEG)),
            brightness=self.base.brightness * (1.0 + 0.06 * wave[4]),
        )
