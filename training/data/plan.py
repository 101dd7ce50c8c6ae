"""Which frames to extract from which video, at what rate, with which label policy (thesis 4.3.3, 4.3.4).

Thesis defaults (all configurable with a YAML file, see `PlanConfig`):
- DAN face 0-1 -> every frame `nonpain`, 0.5 frames/s; DAN face 2-4 -> `manual` (a professional labels each
  frame pain/nonpain, since a high score does not mean every frame shows pain), 1 frame/s; the longer DAN
  videos are cut to the first part of the window so every infant contributes about the same number of frames.
- FLACC face 0-1 -> `nonpain`, 1 frame/s, first 60 s; FLACC face 2 -> `pain`, 2 frames/s.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.aggregation.scales import Scale
from service.config.problems import read_yaml_file, validate
from service.files import write_csv_atomic
from service.vision.video import VideoError, probe_video
from training.data.manifest import Video
from training.data.schema import PLAN_COLUMNS

logger = logging.getLogger(__name__)

LabelPolicy = Literal["nonpain", "pain", "manual"]


class ExtractionRule(BaseModel):
    """How videos of one scale and face-score range are sampled and labelled."""

    model_config = ConfigDict(extra="forbid")

    scale: Scale = Field(description="Scale the rule applies to: DAN or FLACC.")
    faces: list[int] = Field(description="Aggregated face scores this rule covers.", min_length=1)
    label_policy: LabelPolicy = Field(
        description="nonpain/pain: every frame gets that label; manual: a professional labels each frame."
    )
    sample_fps: float = Field(gt=0, le=60, description="Frames extracted per second of the window.")
    max_seconds: float | None = Field(
        default=None, gt=0, description="Use only the first this-many seconds of the window (None: all)."
    )


class PlanConfig(BaseModel):
    """Frame-extraction plan settings. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    rules: list[ExtractionRule] = Field(
        default_factory=lambda: [
            ExtractionRule(scale=Scale.DAN, faces=[0, 1], label_policy="nonpain", sample_fps=0.5),
            ExtractionRule(scale=Scale.DAN, faces=[2, 3, 4], label_policy="manual", sample_fps=1.0),
            ExtractionRule(scale=Scale.FLACC, faces=[0, 1], label_policy="nonpain", sample_fps=1.0, max_seconds=60.0),
            ExtractionRule(scale=Scale.FLACC, faces=[2], label_policy="pain", sample_fps=2.0),
        ],
        description="One rule per (scale, face scores); thesis defaults.",
    )
    balance_infants: dict[Scale, Literal["median"] | int] = Field(
        default_factory=lambda: {"DAN": "median"},  # type: ignore[arg-type]
        description=(
            "Per scale, cap every infant at about the same number of frames, taking the first part of each "
            "window: 'median' (the median infant's count) or a number of frames. Scales not listed: no cap."
        ),
    )

    @model_validator(mode="after")
    def _rules_do_not_overlap(self) -> PlanConfig:
        seen: dict[tuple[str, int], int] = {}
        for index, rule in enumerate(self.rules):
            for face in rule.faces:
                if (rule.scale, face) in seen:
                    raise ValueError(
                        f"rules[{index}] and rules[{seen[(rule.scale, face)]}] both cover {rule.scale} face {face}"
                    )
                seen[(rule.scale, face)] = index
        return self

    def rule_for(self, scale: Scale, face: int) -> ExtractionRule | None:
        return next((r for r in self.rules if r.scale == scale and face in r.faces), None)


def load_plan_config(path: Path | None) -> PlanConfig:
    """The plan settings of a YAML file (None: the thesis defaults); problems are reported by the project's one
    config error formatter (service/config/problems.py): file, line, key path, "did you mean"."""
    if path is None:
        return PlanConfig()
    data, source = read_yaml_file(Path(path), "plan config")
    return validate(PlanConfig, data, source, "plan config")


def build_plan(videos: Iterable[Video], config: PlanConfig) -> list[dict[str, object]]:
    """One plan row per video, in manifest order."""
    rows = [_plan_row(video, config) for video in videos]
    _balance_infants(rows, config)
    for row in rows:
        row.pop("_window_s")
    return rows


def write_plan(rows: list[dict[str, object]], output: Path) -> int:
    return write_csv_atomic(output, PLAN_COLUMNS, rows)


def _plan_row(video: Video, config: PlanConfig) -> dict[str, object]:
    row: dict[str, object] = {
        "video_id": video.video_id,
        "infant_id": video.infant_id,
        "scale": video.scale.value,
        "face_score": "" if video.face_score is None else video.face_score,
        "included": False,
        "reason": video.excluded_reason,
        "label_policy": "",
        "sample_fps": "",
        "max_seconds": "",
        "path": str(video.path),
        "window_start_s": video.window_start_s,
        "window_end_s": "" if video.window_end_s is None else video.window_end_s,
        "_window_s": None,
    }
    if not video.included or video.face_score is None:
        return row
    rule = config.rule_for(video.scale, video.face_score)
    if rule is None:
        row["reason"] = f"no extraction rule for {video.scale} face {video.face_score}"
        return row
    window = _window_seconds(video)
    row.update(
        included=True,
        label_policy=rule.label_policy,
        sample_fps=rule.sample_fps,
        max_seconds="" if rule.max_seconds is None else rule.max_seconds,
        _window_s=window,
    )
    return row


def _window_seconds(video: Video) -> float | None:
    """Length of the observation window; probes the container when the window runs to the end."""
    try:
        duration = probe_video(video.path).duration_s
    except VideoError as exc:
        logger.warning("%s (the plan keeps it; extraction will report it)", exc)
        return None if video.window_end_s is None else video.window_end_s - video.window_start_s
    end = duration if video.window_end_s is None else min(video.window_end_s, duration)
    return max(0.0, end - video.window_start_s)


def _expected_frames(row: dict[str, object]) -> float:
    seconds = row["_window_s"]
    if not isinstance(seconds, float):
        return 0.0
    if row["max_seconds"] != "":
        seconds = min(seconds, float(row["max_seconds"]))  # type: ignore[arg-type]
    return seconds * float(row["sample_fps"])  # type: ignore[arg-type]


def _balance_infants(rows: list[dict[str, object]], config: PlanConfig) -> None:
    """Cap each infant's frames at a common target by shortening `max_seconds` of its videos evenly."""
    for scale, target_spec in config.balance_infants.items():
        per_infant: dict[str, list[dict[str, object]]] = defaultdict(list)
        for row in rows:
            if row["included"] and row["scale"] == scale and isinstance(row["_window_s"], float):
                per_infant[str(row["infant_id"])].append(row)
        if not per_infant:
            continue
        totals = {infant: sum(_expected_frames(r) for r in group) for infant, group in per_infant.items()}
        target = statistics.median(totals.values()) if target_spec == "median" else float(target_spec)
        logger.info("%s: capping each infant at about %.0f frames", scale, target)
        for infant, group in per_infant.items():
            if totals[infant] <= target:
                continue
            share = target / len(group)  # frames each of this infant's videos may contribute
            for row in group:
                if _expected_frames(row) > share:
                    row["max_seconds"] = round(share / float(row["sample_fps"]), 3)  # type: ignore[arg-type]
