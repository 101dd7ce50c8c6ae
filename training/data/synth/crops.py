"""The crop dataset: random still frames per infant -> real detector -> real crop code -> crop + cue mask.

Crops come from `service.vision.crop.crop_face` and masks from `crop_region` with the same SquareBox, so
they line up pixel for pixel with what training and the bedside service see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.synthetic.faces import HeadSprite, Identity
from service.synthetic.poses import still_pose
from service.synthetic.scene import compose_frame
from service.vision.crop import CropSpec, crop_face, crop_region
from service.vision.detectors import FaceDetector, best_face
from service.vision.images import write_mask, write_rgb
from training.data.schema import LABELS, SOURCE_SYNTHETIC
from training.data.synth.cues import CUES, MOUTH_CUES

PAIN_SHARE = 0.35
NO_FACE_FOLDER = "synthetic_no_face_frames"
DEFAULT_SPEC = CropSpec()
"""224 px, margin 0.2: the crop the model and the bedside service use."""


@dataclass(frozen=True)
class StillPlan:
    frame_id: str
    cues: tuple[str, ...]
    pacifier: bool


@dataclass
class CropRows:
    dataset: list[dict[str, str]]
    no_face: list[dict[str, str]]


def plan_stills(identity: Identity, count: int, seed: int) -> list[StillPlan]:
    """`count` stills; round(35%) of them show 2-4 cues, in a seeded random order."""
    rng = np.random.default_rng([seed, 4, identity.index])
    pain_count = round(count * PAIN_SHARE)
    is_pain = rng.permutation(np.arange(count) < pain_count)
    plans = []
    for number, pain in enumerate(is_pain, start=1):
        pacifier = identity.uses_pacifier and bool(rng.random() < 0.5)
        cues: tuple[str, ...] = ()
        if pain:
            available = tuple(c for c in CUES if not (pacifier and c in MOUTH_CUES))
            size = int(rng.integers(2, len(available) + 1))
            cues = tuple(available[i] for i in sorted(rng.choice(len(available), size=size, replace=False)))
        plans.append(StillPlan(f"synthetic_{identity.slug}_still_{number:03d}", cues, pacifier))
    return plans


def build_crops(
    crops_dir: Path,
    identity: Identity,
    sprite: HeadSprite,
    background: np.ndarray,
    stills: list[StillPlan],
    detector: FaceDetector,
    seed: int,
    on_frame: Callable[[], None] | None = None,
    spec: CropSpec = DEFAULT_SPEC,
) -> CropRows:
    """Render, detect and crop every still; crops and masks go beside each other in `crops_dir`."""
    rng = np.random.default_rng([seed, 5, identity.index])
    rows = CropRows(dataset=[], no_face=[])
    video_id = f"synthetic_{identity.slug}_stills"
    for still in stills:
        pose = still_pose(identity, rng)
        strength = float(rng.uniform(0.8, 1.0))
        frame = compose_frame(background, sprite, identity, pose, still.cues, strength, still.pacifier, rng)
        face = best_face(detector.detect(frame.rgb))
        if face is None:
            frame_path = f"{NO_FACE_FOLDER}/{still.frame_id}.jpg"
            write_rgb(crops_dir / frame_path, frame.rgb)
            rows.no_face.append({"frame_id": still.frame_id, "frame_path": frame_path, "video_id": video_id,
                                 "infant_id": identity.infant_id, "reason": "no face detected"})  # fmt: skip
        else:
            crop, region = crop_face(frame.rgb, face, spec)
            mask = crop_region(frame.cue_mask, region, spec.size)
            crop_name, mask_name = f"{still.frame_id}.jpg", f"{still.frame_id}_mask.png"
            cues_name = f"{still.frame_id}_cues.png"
            write_rgb(crops_dir / crop_name, crop)
            write_mask(crops_dir / mask_name, mask)
            if frame.cue_labels is not None:  # nearest-neighbour resize: the bit codes stay exact
                write_mask(crops_dir / cues_name, crop_region(frame.cue_labels, region, spec.size))
            rows.dataset.append({
                "crop_path": crop_name, "frame_id": still.frame_id, "video_id": video_id,
                "infant_id": identity.infant_id, "label": LABELS[1] if still.cues else LABELS[0],
                "detector": detector.name, "score": f"{face.score:.4f}", "x": str(region.x), "y": str(region.y),
                "w": str(region.side), "h": str(region.side), "source": SOURCE_SYNTHETIC, "mask_path": mask_name,
                "cue_mask_path": cues_name, "face_source": identity.base,
            })  # fmt: skip
        if on_frame is not None:
            on_frame()
    return rows
