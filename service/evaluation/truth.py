"""Ground truth of a recorded or scripted video, as a sidecar JSON beside it (`<stem>.truth.json`).

Format (schema_version 1; JSON Schema in docs/schemas/video_truth.schema.json):

    {"schema_version": 1, "kind": "painwatch-video-truth", "synthetic": true, "video": "synthetic-demo.mp4",
     "generator": "...", "scale": "DAN", "fps": 10.0, "frame_count": 2600, "duration_s": 260.0,
     "segments": [{"start_s": 0.0, "end_s": 30.0, "label": "calm"}, ...],
     "cues": [{"start_s": 30.0, "end_s": 35.0, "cues": ["brow_bulge", "open_mouth"], "strength": 0.9}, ...]}

- `segments` cover [0, duration_s] without gap or overlap, in order; `label` is `calm` (a face, no pain
  expression), `pain` (a face showing the pain expression) or `no_face` (no face in view). A frame at time t
  (= index / fps) belongs to the segment with start_s <= t < end_s.
- `cues` (optional) is what was drawn, for people and plots: each span lies inside one `pain` segment.
- `scale` is the clinical scale the truth score is given on (DAN or FLACC): the truth score of an observation
  window is the scale's facial rule (service/aggregation/scales.py, default thresholds) applied to the true
  share of the window's face-visible time that shows pain, i.e. what the bedside estimate would be with a perfect
  detector and classifier.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.aggregation.scales import Scale, ScaleRules, estimate_face_score
from service.errors import UserError, ValidationErrors
from service.files import atomic_open

SCHEMA_VERSION = 1
KIND = "painwatch-video-truth"
LABELS = ("calm", "pain", "no_face")
FACE_LABELS = frozenset({"calm", "pain"})
TRUTH_SUFFIX = ".truth.json"
_EPS = 1e-6
"""Seconds: boundaries closer than this count as equal (JSON round trips of frame times)."""


@dataclass(frozen=True)
class TruthSegment:
    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class CueSpan:
    """Pain cues drawn over [start_s, end_s) at a strength: a truth sidecar's `cues` and the synthetic cohort's
    cue timelines (training/data/synth/timeline.py) alike."""

    start_s: float
    end_s: float
    cues: tuple[str, ...]
    strength: float


@dataclass(frozen=True)
class VideoTruth:
    fps: float
    frame_count: int
    segments: tuple[TruthSegment, ...]
    scale: Scale = Scale.DAN
    cues: tuple[CueSpan, ...] = ()
    video: str | None = None
    synthetic: bool = False
    generator: str | None = None

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s

    def label_at(self, t: float) -> str:
        """The label of the segment holding time t (the last one at or after the end)."""
        for segment in self.segments:
            if segment.start_s - _EPS <= t < segment.end_s - _EPS:
                return segment.label
        return self.segments[-1].label if t >= self.duration_s - _EPS else self.segments[0].label

    def seconds(self, label: str, start: float | None = None, end: float | None = None) -> float:
        """Time labelled `label` within [start, end] (default: the whole video)."""
        lo = 0.0 if start is None else start
        hi = self.duration_s if end is None else end
        return sum(max(0.0, min(s.end_s, hi) - max(s.start_s, lo)) for s in self.segments if s.label == label)

    def pain_fraction(self, start: float, end: float) -> float | None:
        """Share of the face-visible time in [start, end] that shows pain; None when no face was in view."""
        pain = self.seconds("pain", start, end)
        face = pain + self.seconds("calm", start, end)
        return pain / face if face > _EPS else None

    def score(self, start: float, end: float, rules: ScaleRules | None = None) -> int | None:
        """The truth facial score of the window [start, end] on this video's scale."""
        return estimate_face_score(self.scale, self.pain_fraction(start, end), rules or ScaleRules())

    def pain_segments(self) -> list[TruthSegment]:
        return [s for s in self.segments if s.label == "pain"]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": KIND, "synthetic": self.synthetic}
        if self.video is not None:
            data["video"] = self.video
        if self.generator is not None:
            data["generator"] = self.generator
        data.update(
            scale=self.scale.value,
            fps=self.fps,
            frame_count=self.frame_count,
            duration_s=self.duration_s,
            segments=[{"start_s": s.start_s, "end_s": s.end_s, "label": s.label} for s in self.segments],
            cues=[
                {"start_s": c.start_s, "end_s": c.end_s, "cues": list(c.cues), "strength": c.strength}
                for c in self.cues
            ],
        )
        return data


def truth_path_for(video: Path) -> Path:
    """The sidecar beside a video: `name.mp4` -> `name.truth.json`."""
    video = Path(video)
    return video.with_name(video.stem + TRUTH_SUFFIX)


def write_truth(path: Path, truth: VideoTruth) -> Path:
    with atomic_open(Path(path), "w", encoding="utf-8") as handle:
        json.dump(truth.to_json(), handle, indent=2, allow_nan=False)
        handle.write("\n")
    return Path(path)


def read_truth(path: Path) -> VideoTruth:
    """Read and check a sidecar; every problem names the file and the key (or the JSON line and column)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: truth file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 text file ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from exc
    return parse_truth(data, str(path))


def parse_truth(data: Any, source: str) -> VideoTruth:
    """Check a decoded sidecar against schema_version 1; all problems are reported at once (ValidationErrors)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ValidationErrors(source, ["the top level must be a JSON object"])
    known = {"schema_version", "kind", "synthetic", "video", "generator", "scale", "fps", "frame_count",
             "duration_s", "segments", "cues"}  # fmt: skip
    problems += [f"key {key!r}: unknown key (known: {', '.join(sorted(known))})" for key in data if key not in known]
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        problems.append(f"key 'schema_version': must be {SCHEMA_VERSION}, got {version!r}")
    if "kind" in data and data["kind"] != KIND:
        problems.append(f"key 'kind': must be {KIND!r}, got {data['kind']!r}")
    fps = _number(data, "fps", problems, positive=True)
    frame_count = data.get("frame_count")
    if not (isinstance(frame_count, int) and not isinstance(frame_count, bool) and frame_count > 0):
        problems.append(f"key 'frame_count': must be a whole number > 0, got {frame_count!r}")
        frame_count = None
    duration = _number(data, "duration_s", problems, positive=True)
    scale_text = data.get("scale", "DAN")
    scale = Scale.DAN
    if scale_text not in {s.value for s in Scale}:
        problems.append(f"key 'scale': must be one of {[s.value for s in Scale]}, got {scale_text!r}")
    else:
        scale = Scale(scale_text)
    for key in ("video", "generator"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"key {key!r}: must be a string, got {data[key]!r}")
    if "synthetic" in data and not isinstance(data["synthetic"], bool):
        problems.append(f"key 'synthetic': must be true or false, got {data['synthetic']!r}")
    before = len(problems)
    segments = _segments(data.get("segments"), duration, problems)
    # cue placement is only checked against a sound timeline (one bad segment would flag every cue after it)
    cues = _cues(data.get("cues", []), segments if len(problems) == before else [], problems)
    known_length = fps is not None and frame_count is not None and duration is not None
    if known_length and abs(frame_count / fps - duration) > 1.0 / fps + _EPS:  # type: ignore[operator]
        problems.append(
            f"key 'duration_s': {duration:g} s does not match frame_count / fps = {frame_count}/{fps:g} "
            f"= {frame_count / fps:g} s"  # type: ignore[operator]
        )
    if problems:
        raise ValidationErrors(source, problems)
    assert fps is not None and frame_count is not None
    return VideoTruth(
        fps=fps,
        frame_count=frame_count,
        segments=tuple(segments),
        scale=scale,
        cues=tuple(cues),
        video=data.get("video"),
        synthetic=bool(data.get("synthetic", False)),
        generator=data.get("generator"),
    )


def _number(data: dict[str, Any], key: str, problems: list[str], positive: bool = False) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"key {key!r}: must be a number, got {value!r}" if key in data else f"key {key!r}: missing")
        return None
    if positive and value <= 0:
        problems.append(f"key {key!r}: must be > 0, got {value!r}")
        return None
    return float(value)


def _segments(raw: Any, duration: float | None, problems: list[str]) -> list[TruthSegment]:
    if not isinstance(raw, list) or not raw:
        problems.append("key 'segments': must be a non-empty list of {start_s, end_s, label}")
        return []
    segments: list[TruthSegment] = []
    expected_start = 0.0
    for i, item in enumerate(raw):
        where = f"segments[{i}]"
        if not isinstance(item, dict):
            problems.append(f"key {where!r}: must be an object with start_s, end_s, label")
            continue
        extra = sorted(set(item) - {"start_s", "end_s", "label"})
        if extra:
            problems.append(f"key '{where}.{extra[0]}': unknown key (known: start_s, end_s, label)")
        sub: list[str] = []
        start = _number(item, "start_s", sub)
        end = _number(item, "end_s", sub)
        problems += [p.replace("key '", f"key '{where}.", 1) for p in sub]
        label = item.get("label")
        if label not in LABELS:
            problems.append(f"key '{where}.label': must be one of {list(LABELS)}, got {label!r}")
        if start is None or end is None:
            continue
        if end <= start:
            problems.append(f"key '{where}.end_s': {end:g} must be after start_s {start:g}")
            continue
        if abs(start - expected_start) > _EPS:
            what = "gap" if start > expected_start else "overlap"
            problems.append(
                f"key '{where}.start_s': {start:g} leaves a {what} after the previous segment's end {expected_start:g} "
                "(segments must cover the video in order)"
            )
        expected_start = end
        if label in LABELS:
            segments.append(TruthSegment(start, end, str(label)))
    if segments and duration is not None and abs(segments[-1].end_s - duration) > _EPS:
        problems.append(
            f"key 'segments[{len(raw) - 1}].end_s': the last segment ends at {segments[-1].end_s:g} s "
            f"but duration_s is {duration:g} s"
        )
    return segments


def _cues(raw: Any, segments: list[TruthSegment], problems: list[str]) -> list[CueSpan]:
    if not isinstance(raw, list):
        problems.append("key 'cues': must be a list of {start_s, end_s, cues, strength}")
        return []
    spans: list[CueSpan] = []
    pains = [s for s in segments if s.label == "pain"]
    for i, item in enumerate(raw):
        where = f"cues[{i}]"
        if not isinstance(item, dict):
            problems.append(f"key {where!r}: must be an object with start_s, end_s, cues, strength")
            continue
        sub: list[str] = []
        start = _number(item, "start_s", sub)
        end = _number(item, "end_s", sub)
        strength = _number(item, "strength", sub) if "strength" in item else 1.0
        problems += [p.replace("key '", f"key '{where}.", 1) for p in sub]
        names = item.get("cues")
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            problems.append(f"key '{where}.cues': must be a non-empty list of cue names")
            continue
        if start is None or end is None or strength is None:
            continue
        if end <= start:
            problems.append(f"key '{where}.end_s': {end:g} must be after start_s {start:g}")
            continue
        if segments and not any(p.start_s - _EPS <= start and end <= p.end_s + _EPS for p in pains):
            problems.append(f"key '{where}': {start:g}-{end:g} s is not inside one 'pain' segment")
        spans.append(CueSpan(start, end, tuple(names), strength))
    return spans
