"""The synthetic demo videos, made from a real face photo (scikit-image's astronaut).

- The scripted demo (`write_scripted_demo`, what `painwatch serve` plays with no config): a pseudo-infant of the
  synthetic cohort (`demo_infant`, rendered by the cohort's own code in `service/synthetic/`) goes calm -> a pain
  episode (the cohort's cues) -> calm -> no face -> calm, with its ground truth in a sidecar JSON beside it
  (`service/evaluation/truth.py`), so `painwatch eval-video` can score the whole method on it.
- The plain drifting photo (`write_demo_video`), used by tests and benchmarks.

SYNTHETIC: it is not an infant and not a patient (an adult's photograph made infant-like). Deterministic: the same
parameters always give the same frames.
Generated on first use by `painwatch serve` and cached under the data folder.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from service.evaluation.truth import CueSpan, TruthSegment, VideoTruth, read_truth, truth_path_for, write_truth
from service.synthetic.cues import CUES
from service.synthetic.faces import HeadSprite, Identity, head_patch, make_identities, render_head
from service.synthetic.geometry import Keypoints
from service.synthetic.poses import Motion
from service.synthetic.scene import compose_frame, make_background

logger = logging.getLogger(__name__)

FRAME_SIZE = (640, 480)
"""Width, height."""


def astronaut_rgb() -> np.ndarray:
    from skimage import data  # ships the photo; imported here so the service starts without it until needed

    return np.asarray(data.astronaut(), dtype=np.uint8)


def background(width: int, height: int) -> np.ndarray:
    """A soft vertical gradient, like an incubator wall: no face in it."""
    ramp = np.linspace(150, 210, height, dtype=np.float32)[:, None, None]
    tint = np.array([0.92, 1.0, 0.96], np.float32)[None, None, :]
    return np.broadcast_to(ramp * tint, (height, width, 3)).astype(np.uint8)


def demo_frame(index: int, fps: float, face_visible: bool, photo: np.ndarray) -> np.ndarray:
    """Frame `index`: the photo (scaled to 400 px) drifting a few pixels on the background, or the background."""
    width, height = FRAME_SIZE
    frame = background(width, height).copy()
    if not face_visible:
        return frame
    side = 400
    scaled = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    t = index / fps
    dx = round(12 * math.sin(2 * math.pi * t / 4.0))  # slow sway: the detector tracks a moving face
    dy = round(6 * math.sin(2 * math.pi * t / 3.0))
    x0 = (width - side) // 2 + dx
    y0 = (height - side) // 2 + dy
    frame[y0 : y0 + side, x0 : x0 + side] = scaled
    return frame


def write_mp4(path: Path, fps: float, frames: Iterable[np.ndarray]) -> None:
    """Write RGB frames as an MPEG-4 Part 2 .mp4, atomically. VideoWriter picks the container from the extension,
    so the video is staged under a .mp4 name beside `path` and renamed into place."""
    fd, staged_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    staged = Path(staged_name)
    try:
        writer = cv2.VideoWriter(str(staged), cv2.VideoWriter_fourcc(*"mp4v"), fps, FRAME_SIZE)  # type: ignore[attr-defined]
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {staged}")
        for rgb in frames:
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def write_demo_video(path: Path, seconds: float = 8.0, fps: float = 15.0, face_until_s: float = 6.0) -> Path:
    """Write the video (MPEG-4 Part 2 in .mp4); the face is visible for the first `face_until_s` seconds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = astronaut_rgb()
    frames = (demo_frame(i, fps, i / fps < face_until_s, photo) for i in range(round(seconds * fps)))
    write_mp4(path, fps, frames)
    logger.info("wrote the synthetic demo video %s", path)
    return path


# -- the scripted demo: calm -> pain episode -> calm -> no face -> calm, with its ground truth ------------------

ASTRONAUT_KEYPOINTS: tuple[tuple[float, float], ...] = (
    (201.50, 104.90), (245.85, 109.10), (220.43, 127.26), (219.82, 148.61), (178.19, 115.72), (272.20, 123.87),
)  # fmt: skip
"""MediaPipe short-range's six keypoints on the 512-px astronaut photo (image mode; right eye, left eye, nose tip,
mouth centre, right and left ear tragion), measured once and pinned so the video needs no detector to be made
(tests/service/test_demo_video.py checks them against the detector)."""
ASTRONAUT_FACE = (177.0, 82.0, 95.0)
"""The detector's face box on the photo: x, y, side (pixels)."""

SCRIPTED_FPS = 10.0
DEMO_INFANT_SEED = 77
DEMO_INFANT_INDEX = 0
"""The demo's face: pseudo-infant 1 of the cohort drawn with seed 77 (`painwatch data synth --seed 77`), made from
the astronaut photograph. Chosen by rule, not by result: it is the first infant of the cohort `make demo-model`
holds out as unseen (the model trains on seed 0's cohort), so the demo shows the model a face it never trained
on, rendered by the same code as its training crops."""
_COHORT_SIZE = 12
"""`painwatch data synth`'s default cohort size (identities are drawn per index, so only the index matters)."""
CUE_PHASE_S = 5.0
"""Inside a pain segment the drawn cue set changes this often (a crying face is not a still)."""
CUE_STRENGTH = 0.9
PAIN_CUE_CYCLE: tuple[tuple[str, ...], ...] = (
    ("brow_bulge", "eye_squeeze", "open_mouth"),
    ("brow_bulge", "eye_squeeze", "nasolabial_furrow", "open_mouth"),
    ("eye_squeeze", "nasolabial_furrow", "open_mouth"),
)
"""Cue sets drawn in turn during a pain segment; the crying mouth is in every one (as in the cohort, 2-4 cues)."""


@dataclass(frozen=True)
class ScriptStep:
    label: str
    """calm, pain or no_face."""
    seconds: float


DEMO_SCRIPT: tuple[ScriptStep, ...] = (
    ScriptStep("calm", 30.0),
    ScriptStep("pain", 70.0),
    ScriptStep("calm", 100.0),
    ScriptStep("no_face", 30.0),
    ScriptStep("calm", 30.0),
)
"""30 s calm fills the 30 s observation window; 70 s of pain lets the DAN estimate reach 4 and a pain alert open
(score >= 3 for 20 s); 100 s of calm lets the window empty (30 s) and the episode close (60 s below exit);
30 s without a face (shorter than the 120 s no-face alert); then the face comes back calm."""
DEMO_GENERATOR = "painwatch scripted demo v2 (seed-77 pseudo-infant 1, synthetic cohort renderer and cues, 10 fps)"
"""Recorded in the sidecar; a cached demo made by another generator (or without a sidecar) is made again."""


@dataclass(frozen=True)
class DemoInfant:
    """The scripted demo's pseudo-infant: who, its rendered head, its crib and its head motion."""

    identity: Identity
    sprite: HeadSprite
    background: np.ndarray
    motion: Motion


def demo_infant() -> DemoInfant:
    """The demo's pseudo-infant, built from the astronaut photo with its pinned keypoints (no detector needed)."""
    identity = make_identities(_COHORT_SIZE, seed=DEMO_INFANT_SEED)[DEMO_INFANT_INDEX]
    x, y, side = ASTRONAUT_FACE
    base = head_patch("astronaut", astronaut_rgb(), x + side / 2.0, y + side / 2.0, side,
                      Keypoints(np.asarray(ASTRONAUT_KEYPOINTS, np.float64)))  # fmt: skip
    motion = Motion.random(identity, np.random.default_rng([DEMO_INFANT_SEED, 3, identity.index, 0]))
    return DemoInfant(identity, render_head(base, identity), make_background(identity), motion)


def scripted_frame(t: float, label: str, cues: tuple[str, ...], infant: DemoInfant) -> np.ndarray:
    """One frame at time t: the infant in its crib, moving slowly (with `cues` drawn on its face), or the empty
    crib."""
    if label == "no_face":
        return infant.background.copy()
    pose = infant.motion.at(t)
    return compose_frame(infant.background, infant.sprite, infant.identity, pose, cues, CUE_STRENGTH).rgb


def script_truth(script: tuple[ScriptStep, ...], fps: float, video_name: str | None = None) -> VideoTruth:
    """The ground truth a script gives: segments snapped to frame times, and the cue spans drawn in pain."""
    segments: list[TruthSegment] = []
    spans: list[CueSpan] = []
    frame = 0
    for step in script:
        if step.label not in ("calm", "pain", "no_face"):
            raise ValueError(f"unknown script label {step.label!r}")
        frames = round(step.seconds * fps)
        if frames < 1:
            raise ValueError(f"script step {step} is shorter than one frame at {fps:g} fps")
        start, end = frame / fps, (frame + frames) / fps
        segments.append(TruthSegment(start, end, step.label))
        if step.label == "pain":
            phase_frames = max(1, round(CUE_PHASE_S * fps))
            for i, first in enumerate(range(frame, frame + frames, phase_frames)):
                last = min(first + phase_frames, frame + frames)
                cues = PAIN_CUE_CYCLE[i % len(PAIN_CUE_CYCLE)]
                spans.append(CueSpan(first / fps, last / fps, cues, CUE_STRENGTH))
        frame += frames
    assert all(c in CUES for span in spans for c in span.cues)
    return VideoTruth(
        fps=fps, frame_count=frame, segments=tuple(segments), cues=tuple(spans), video=video_name, synthetic=True,
        generator=DEMO_GENERATOR,
    )  # fmt: skip


def write_scripted_demo(
    path: Path, script: tuple[ScriptStep, ...] = DEMO_SCRIPT, fps: float = SCRIPTED_FPS
) -> tuple[Path, Path]:
    """Write the scripted video (mp4v) and its truth sidecar beside it; returns (video, sidecar)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = script_truth(script, fps, path.name)
    logger.info("writing the scripted synthetic demo video %s (%d frames; done once, then cached)", path,
                truth.frame_count)  # fmt: skip
    infant = demo_infant()
    spans = list(truth.cues)

    def frame(index: int) -> np.ndarray:
        t = index / fps
        label = truth.label_at(t)
        span = next((s for s in spans if s.start_s - 1e-9 <= t < s.end_s - 1e-9), None)
        cues = span.cues if span is not None and label == "pain" else ()
        return scripted_frame(t, label, cues, infant)

    write_mp4(path, fps, (frame(i) for i in range(truth.frame_count)))
    sidecar = write_truth(truth_path_for(path), truth)
    logger.info("wrote the scripted synthetic demo video %s and its truth %s", path, sidecar)
    return path, sidecar


def ensure_demo_video(path: Path, script: tuple[ScriptStep, ...] = DEMO_SCRIPT, fps: float = SCRIPTED_FPS) -> Path:
    """The cached scripted demo video, (re)generated when it, its sidecar, or the generator's version is missing
    or different (an older cache holds the drifting-photo video without a sidecar)."""
    path = Path(path)
    sidecar = truth_path_for(path)
    current = False
    if path.is_file() and sidecar.is_file():
        try:
            current = read_truth(sidecar).generator == DEMO_GENERATOR
        except Exception:  # an unreadable sidecar is simply made again
            current = False
    if not current:
        write_scripted_demo(path, script, fps)
    return path
