"""Annotation manifests: one CSV row per (video, rater), validated in one pass, aggregated per video.

Columns: video_id, infant_id, path, scale, rater, then the scale's items (DAN: face, limbs, vocal; FLACC:
face, legs, activity, cry, consolability; blank = not scored), optionally window_start_s, window_end_s (the
observation window in seconds; blank = whole video). Relative paths resolve against the manifest's folder.

Rater aggregation follows the thesis: DAN face = maximum over raters (M-PAIN); FLACC: a video whose raters
disagree across the pain boundary (some 2, some below) is excluded as `raters disagree` (VideoDol),
otherwise its face score is the agreed class (the highest rating within it).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from service.aggregation.scales import Scale
from service.errors import UserError, ValidationErrors
from training.data.scales import DEFINITIONS, Assessment, ScaleDefinition, ScoreError, definition_of

BASE_COLUMNS = ("video_id", "infant_id", "path", "scale", "rater")
WINDOW_COLUMNS = ("window_start_s", "window_end_s")
ITEM_COLUMNS = tuple(dict.fromkeys(name for scale in DEFINITIONS.values() for name in scale.item_names))
KNOWN_COLUMNS = BASE_COLUMNS + ITEM_COLUMNS + WINDOW_COLUMNS

RATERS_DISAGREE = "raters disagree"


@dataclass(frozen=True)
class RaterRow:
    """One validated manifest line."""

    line: int
    video_id: str
    infant_id: str
    path: Path
    rater: str
    assessment: Assessment
    window_start_s: float
    window_end_s: float | None


@dataclass(frozen=True)
class Video:
    """One video with its raters' assessments aggregated."""

    video_id: str
    infant_id: str
    path: Path
    scale: Scale
    raters: tuple[RaterRow, ...]
    face_score: int | None
    """Aggregated face score; None when the video is excluded."""
    excluded_reason: str
    window_start_s: float
    window_end_s: float | None

    @property
    def included(self) -> bool:
        return not self.excluded_reason


def read_manifest(path: Path) -> list[Video]:
    """Validate every line of a manifest, then aggregate raters per video. All problems are reported at once."""
    rows = _validated_rows(Path(path))
    return [_aggregate(group) for group in _group_by_video(rows).values()]


def _validated_rows(path: Path) -> list[RaterRow]:
    if not path.is_file():
        raise UserError(f"{path}: manifest not found")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        problems = _header_problems(header)
        if problems:
            raise ValidationErrors(str(path), problems)
        reader.fieldnames = header
        rows: list[RaterRow] = []
        for line_no, record in enumerate(reader, start=2):
            row, row_problems = _parse_row(line_no, record, path.parent)
            problems += row_problems
            if row is not None:
                rows.append(row)
    if not rows and not problems:
        problems.append("line 2: the manifest has no data rows; add one row per (video, rater)")
    problems += _cross_row_problems(rows)
    if problems:
        raise ValidationErrors(str(path), problems)
    return rows


def _header_problems(header: list[str]) -> list[str]:
    if not header:
        return ["line 1: empty file; expected a header: " + ", ".join((*BASE_COLUMNS, "face", "..."))]
    problems = [
        f"line 1: unknown column {name!r}; known columns: {', '.join(KNOWN_COLUMNS)}"
        for name in header
        if name not in KNOWN_COLUMNS
    ]
    problems += [f"line 1: missing column {name!r}" for name in (*BASE_COLUMNS, "face") if name not in header]
    return problems


def _parse_row(line: int, record: dict[str, str | None], base: Path) -> tuple[RaterRow | None, list[str]]:
    values = {key: (value or "").strip() for key, value in record.items() if key is not None}
    if None in record:
        return None, [f"line {line}: more fields than columns in the header"]
    problems = [f"line {line}: {name} is empty" for name in BASE_COLUMNS if not values.get(name)]
    if problems:
        return None, problems
    try:
        scale = definition_of(values["scale"])
    except ScoreError as exc:
        return None, [f"line {line}: {exc}"]
    scores, score_problems = _parse_scores(line, scale, values)
    problems += score_problems
    start, end, window_problems = _parse_window(line, values)
    problems += window_problems
    video_path = Path(values["path"])
    if not video_path.is_absolute():
        video_path = base / video_path
    if not video_path.is_file():
        problems.append(f"line {line}: video file {values['path']!r} not found (looked at {video_path})")
    if problems:
        return None, problems
    return (
        RaterRow(
            line=line,
            video_id=values["video_id"],
            infant_id=values["infant_id"],
            path=video_path,
            rater=values["rater"],
            assessment=Assessment(scale, scores),
            window_start_s=start,
            window_end_s=end,
        ),
        [],
    )


def _parse_scores(line: int, scale: ScaleDefinition, values: dict[str, str]) -> tuple[dict[str, int | None], list[str]]:
    scores: dict[str, int | None] = {}
    problems: list[str] = []
    for name in ITEM_COLUMNS:
        text = values.get(name, "")
        if name not in scale.item_names:
            if text:
                problems.append(f"line {line}: column {name!r} is not a {scale.name} item; leave it blank")
            continue
        if not text:
            scores[name] = None
            continue
        try:
            scores[name] = scale.check(name, int(text))
        except ValueError as exc:
            reason = (
                str(exc) if isinstance(exc, ScoreError) else f"{scale.name} {name} score {text!r} is not a whole number"
            )
            problems.append(f"line {line}: {reason} ({scale.name} {name} is {scale.item(name).range_text})")
    if scores.get("face") is None and not any("face" in p for p in problems):
        problems.append(f"line {line}: {scale.name} face score is required (the model learns from the face)")
    return scores, problems


def _parse_window(line: int, values: dict[str, str]) -> tuple[float, float | None, list[str]]:
    problems: list[str] = []
    parsed: dict[str, float | None] = {}
    for name in WINDOW_COLUMNS:
        text = values.get(name, "")
        try:
            parsed[name] = float(text) if text else None
        except ValueError:
            problems.append(f"line {line}: {name} {text!r} is not a number of seconds")
            parsed[name] = None
    start = parsed["window_start_s"] or 0.0
    end = parsed["window_end_s"]
    if start < 0:
        problems.append(f"line {line}: window_start_s {start} is negative")
    if end is not None and end <= start:
        problems.append(f"line {line}: window_end_s {end} must be after window_start_s {start}")
    return start, end, problems


def _group_by_video(rows: list[RaterRow]) -> dict[str, list[RaterRow]]:
    groups: dict[str, list[RaterRow]] = defaultdict(list)
    for row in rows:
        groups[row.video_id].append(row)
    return dict(groups)


def _cross_row_problems(rows: list[RaterRow]) -> list[str]:
    problems: list[str] = []
    for video_id, group in _group_by_video(rows).items():
        first = group[0]
        seen_raters: dict[str, int] = {}
        for row in group:
            if row.rater in seen_raters:
                problems.append(
                    f"line {row.line}: duplicate row for video {video_id!r} and rater {row.rater!r} "
                    f"(first on line {seen_raters[row.rater]})"
                )
            seen_raters.setdefault(row.rater, row.line)
            for what, mine, theirs in (
                ("infant id", row.infant_id, first.infant_id),
                ("scale", row.assessment.scale.name, first.assessment.scale.name),
                ("path", str(row.path), str(first.path)),
                ("window", (row.window_start_s, row.window_end_s), (first.window_start_s, first.window_end_s)),
            ):
                if mine != theirs:
                    problems.append(
                        f"line {row.line}: video {video_id!r} has {what} {mine!r} here but {theirs!r} "
                        f"on line {first.line}; one video has one {what}"
                    )
    return problems


def _aggregate(group: list[RaterRow]) -> Video:
    first = group[0]
    scale = first.assessment.scale
    faces = [row.assessment.face for row in group if row.assessment.face is not None]
    face: int | None = max(faces)
    reason = ""
    if scale.scale is Scale.FLACC:
        pain_votes = {f >= scale.face_pain_from for f in faces}
        if len(pain_votes) > 1:
            face, reason = None, RATERS_DISAGREE
    return Video(
        video_id=first.video_id,
        infant_id=first.infant_id,
        path=first.path,
        scale=scale.scale,
        raters=tuple(group),
        face_score=face,
        excluded_reason=reason,
        window_start_s=first.window_start_s,
        window_end_s=first.window_end_s,
    )
