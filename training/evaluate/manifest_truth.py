"""Truth from a rater manifest (the `painwatch data plan` format): per video, a face score per rater over a window.

A recorded bedside video may appear in several manifest rows (one per rater) and under several video ids (one per
rated window, all with the same path). Raters are aggregated as `data plan` does (DAN: maximum; FLACC: excluded
when raters disagree across the pain boundary). The estimate for a rated window is the scale rule applied to the
replay's pain share over that whole window, as the service would give it with an observation window that long.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.aggregation import Scale
from service.errors import UserError
from service.evaluation.evaluate import SCALE_RANGE, agreement, alert_list, frame_figures, window_estimate
from service.evaluation.replay import ReplayResult
from training.data.manifest import read_manifest


@dataclass(frozen=True)
class RatedWindow:
    video_id: str
    start_s: float
    end_s: float | None
    """None: to the end of the video."""
    truth_score: int | None
    """Aggregated face score; None when the raters' scores exclude the video."""
    excluded_reason: str
    raters: tuple[tuple[str, int | None, int], ...]
    """(rater, face score, manifest line)."""


def rated_windows(manifest: Path, video: Path) -> tuple[Scale, list[RatedWindow]]:
    """The manifest's windows for `video` (matched by file, not by name) and their scale."""
    videos = read_manifest(manifest)
    mine = [v for v in videos if _same_file(v.path, video)]
    if not mine:
        listed = ", ".join(sorted({str(v.path) for v in videos})[:5])
        raise UserError(f"{manifest}: no row's path is {video} (the manifest's videos: {listed})")
    scales = {v.scale for v in mine}
    if len(scales) > 1:
        lines = ", ".join(str(r.line) for v in mine for r in v.raters)
        raise UserError(f"{manifest}: lines {lines} rate {video} on several scales ({sorted(scales)}); use one")
    windows = [
        RatedWindow(
            video_id=v.video_id,
            start_s=v.window_start_s,
            end_s=v.window_end_s,
            truth_score=v.face_score,
            excluded_reason=v.excluded_reason,
            raters=tuple((r.rater, r.assessment.face, r.line) for r in v.raters),
        )
        for v in mine
    ]
    return scales.pop(), sorted(windows, key=lambda w: w.start_s)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def evaluate_with_manifest(result: ReplayResult, windows: list[RatedWindow], manifest: Path) -> dict[str, Any]:
    """Window agreement over the rated windows; frame and alert figures need frame-level truth, so they are null."""
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[float, int, int]] = []
    for w in windows:
        end = result.duration_s if w.end_s is None else min(w.end_s, result.duration_s)
        row: dict[str, Any] = {
            "video_id": w.video_id, "start_s": w.start_s, "end_s": end, "truth": w.truth_score,
            "raters": [{"rater": r, "face": f, "line": line} for r, f, line in w.raters],
            "excluded_reason": w.excluded_reason or None,
        }  # fmt: skip
        if end <= w.start_s:
            row.update(estimate=None, low_evidence=None, pain_fraction=None, note="window starts after the video ends")
            rows.append(row)
            continue
        estimate, low, fraction = window_estimate(result, w.start_s, end)
        row.update(estimate=estimate, low_evidence=low, pain_fraction=fraction)
        if w.truth_score is not None and estimate is not None and not low:
            pairs.append((end, w.truth_score, estimate))
        rows.append(row)
    compared = agreement(pairs, SCALE_RANGE[result.options.scale])
    compared.pop("series")
    return {
        "frames": frame_figures(result, None)
        | {"roc_auc": None, "roc_auc_note": "a rater manifest has no frame-level truth"},
        "windows": compared | {"rated_windows": rows, "scale": result.options.scale.value, "manifest": str(manifest)},
        "alerts": None,
        "alerts_note": "a rater manifest has no pain onsets: alert latency and false alerts need a sidecar truth",
        "alert_spans": alert_list(result.alerts),
    }
