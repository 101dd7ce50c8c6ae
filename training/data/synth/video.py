"""Rendering a planned video to MP4 (OpenCV VideoWriter) and checking that it decodes back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from service.errors import UserError
from service.synthetic.faces import HeadSprite
from service.synthetic.poses import Motion
from service.synthetic.scene import FRAME_HEIGHT, FRAME_WIDTH, compose_frame
from training.data.synth.timeline import VideoPlan

logger = logging.getLogger(__name__)

FOURCC = "mp4v"
"""MPEG-4 Part 2: always present in opencv-contrib-python's FFmpeg build (H.264 encoders are not)."""


def write_video(
    path: Path,
    plan: VideoPlan,
    sprite: HeadSprite,
    background: np.ndarray,
    seed: int,
    on_frame: Callable[[], None] | None = None,
) -> int:
    """Render every frame of the plan into `path`; returns the number of frames written."""
    rng = np.random.default_rng([seed, 3, plan.identity.index, plan.number])
    motion = Motion.random(plan.identity, rng)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*FOURCC), float(plan.fps),
                             (FRAME_WIDTH, FRAME_HEIGHT))  # fmt: skip
    if not writer.isOpened():
        raise UserError(f"{path}: OpenCV cannot write {FOURCC} video here (is opencv-contrib-python installed?)")
    try:
        for index in range(plan.frame_count):
            t = index / plan.fps
            segment = plan.segment_at(t)
            frame = compose_frame(
                background,
                sprite,
                plan.identity,
                motion.at(t),
                cues=segment.cues if segment else (),
                cue_strength=segment.strength if segment else 1.0,
                pacifier=plan.pacifier,
            )
            writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
            if on_frame is not None:
                on_frame()
    finally:
        writer.release()
    check_decodes(path, plan.frame_count)
    return plan.frame_count


def check_decodes(path: Path, expected_frames: int) -> None:
    """Open the written file with cv2.VideoCapture: it must report the frames written and decode one."""
    capture = cv2.VideoCapture(str(path))
    try:
        ok, _frame = capture.read()
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if not ok or count != expected_frames:
        raise RuntimeError(f"{path}: written video does not decode back ({count} of {expected_frames} frames)")
