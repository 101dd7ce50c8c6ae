"""A replay's figures against ground truth: frame ROC-AUC, window-score agreement, alert latency, false alerts.

Definitions (also printed in every report):
- Frame ROC-AUC: analysed frames in `pain` vs `calm` segments whose face was found and scored (state ok);
  the score is the model's pain probability.
- Window agreement: every `step_s` seconds from the first full window, the estimated facial score of the window
  [t - window_s, t] (the service's own `summarise_window` over the replay's observations) against the truth score of
  that window (the scale rule on the true pain share of its face-visible time, `VideoTruth.score`). Windows whose
  estimate is low-evidence (face visible less than `min_face_share` of the window: the alert engine ignores
  them too) or unknown are counted apart. Linear weighted kappa over the scale's full range and exact agreement.
- Alert latency: for each pain segment, the first pain-episode alert opened between its onset and
  end + window_s + open_after_s (while the window can still hold that pain), minus the onset.
- False pain alerts: pain-episode alerts opened outside every such span; per hour of `calm` video.
- No-face share: analysed frames without a detected face, of all analysed frames; and per truth label.
"""

from __future__ import annotations

import bisect
import statistics
from typing import Any

from service.aggregation import Scale, summarise_window
from service.evaluation.metrics import roc_auc, weighted_kappa
from service.evaluation.replay import AlertSpan, ReplayResult
from service.evaluation.truth import VideoTruth

SCALE_RANGE: dict[Scale, tuple[int, ...]] = {Scale.DAN: (0, 1, 2, 3, 4), Scale.FLACC: (0, 1, 2)}


def window_estimate(result: ReplayResult, start: float, end: float) -> tuple[int | None, bool, float | None]:
    """(estimated score, low evidence, pain fraction) of the window [start, end], as the bed would give it at `end`
    with an observation window of that length."""
    params = result.options.aggregation.model_copy(update={"window_s": end - start})
    times = [o.ts for o in result.observations]
    seen = result.observations[: bisect.bisect_right(times, end + 1e-9)]
    summary = summarise_window(seen, end, result.options.scale, params)
    return summary.estimated_score, summary.low_evidence, summary.pain_fraction


def frame_figures(result: ReplayResult, truth: VideoTruth | None) -> dict[str, Any]:
    frames = result.frames
    states = {s: sum(1 for f in frames if f.state == s) for s in ("ok", "no_face", "model_error")}
    figures: dict[str, Any] = {
        "decoded": result.frame_count,
        "analysed": len(frames),
        "states": states,
        "no_face_share": states["no_face"] / len(frames) if frames else None,
    }
    if truth is None:
        return figures
    by_label: dict[str, dict[str, Any]] = {}
    for label in ("calm", "pain", "no_face"):
        mine = [f for f in frames if truth.label_at(f.t) == label]
        with_face = sum(1 for f in mine if f.state != "no_face")
        by_label[label] = {"analysed": len(mine), "face_found": with_face,
                           "face_found_share": with_face / len(mine) if mine else None}  # fmt: skip
    figures["by_truth_label"] = by_label
    scored = [(f.probability, truth.label_at(f.t) == "pain") for f in frames
              if f.state == "ok" and f.probability is not None and truth.label_at(f.t) in ("calm", "pain")]  # fmt: skip
    figures["roc_auc"] = roc_auc([p for p, _ in scored], [y for _, y in scored])
    figures["roc_auc_frames"] = {"pain": sum(1 for _, y in scored if y), "calm": sum(1 for _, y in scored if not y)}
    return figures


def window_figures(result: ReplayResult, truth: VideoTruth, step_s: float = 1.0) -> dict[str, Any]:
    window_s = result.options.aggregation.window_s
    rules = result.options.aggregation.rules
    categories = SCALE_RANGE[result.options.scale]
    pairs: list[tuple[float, int, int]] = []
    low_evidence = unknown = 0
    k = 0
    while (end := window_s + k * step_s) <= min(result.duration_s, truth.duration_s) + 1e-9:
        k += 1
        expected = truth.score(end - window_s, end, rules)
        estimate, low, _fraction = window_estimate(result, end - window_s, end)
        if expected is None or estimate is None:
            unknown += 1
        elif low:
            low_evidence += 1
        else:
            pairs.append((end, expected, estimate))
    return agreement(pairs, categories) | {
        "window_s": window_s,
        "step_s": step_s,
        "windows": k,
        "skipped_low_evidence": low_evidence,
        "skipped_unknown": unknown,
        "scale": result.options.scale.value,
    }


def agreement(pairs: list[tuple[float, int, int]], categories: tuple[int, ...]) -> dict[str, Any]:
    """(time, truth, estimate) triples -> compared count, weighted kappa, exact agreement, confusion table."""
    truth_scores = [p[1] for p in pairs]
    estimates = [p[2] for p in pairs]
    confusion = {str(a): {str(b): 0 for b in categories} for a in categories}
    for a, b in zip(truth_scores, estimates, strict=True):
        confusion[str(a)][str(b)] += 1
    return {
        "compared": len(pairs),
        "weighted_kappa_linear": weighted_kappa(truth_scores, estimates, categories, "linear"),
        "exact_agreement": sum(a == b for a, b in zip(truth_scores, estimates, strict=True)) / len(pairs)
        if pairs
        else None,
        "confusion_truth_by_estimate": confusion,
        "series": [{"end_s": t, "truth": a, "estimate": b} for t, a, b in pairs],
    }


def alert_figures(result: ReplayResult, truth: VideoTruth) -> dict[str, Any]:
    window_s = result.options.aggregation.window_s
    reach = window_s + result.options.alerts.open_after_s
    pains = truth.pain_segments()
    spans = [(s.start_s, s.end_s + reach) for s in pains]
    alerts = result.pain_alerts
    onsets = []
    for segment, (lo, hi) in zip(pains, spans, strict=True):
        hit = next((a for a in alerts if lo - 1e-9 <= a.opened_s <= hi + 1e-9), None)
        onsets.append({
            "onset_s": segment.start_s, "end_s": segment.end_s,
            "alert_opened_s": hit.opened_s if hit else None,
            "latency_s": hit.opened_s - segment.start_s if hit else None,
        })  # fmt: skip
    false = [a for a in alerts if not any(lo - 1e-9 <= a.opened_s <= hi + 1e-9 for lo, hi in spans)]
    calm_hours = truth.seconds("calm") / 3600.0
    latencies = [o["latency_s"] for o in onsets if o["latency_s"] is not None]
    return {
        "pain_onsets": onsets,
        "detected_onsets": len(latencies),
        "median_latency_s": statistics.median(latencies) if latencies else None,
        "false_pain_alerts": len(false),
        "calm_hours": calm_hours,
        "false_pain_alerts_per_hour": len(false) / calm_hours if calm_hours > 0 else None,
        "attribution_reach_s": reach,
    }


def alert_list(alerts: list[AlertSpan]) -> list[dict[str, Any]]:
    return [
        {
            "kind": a.kind,
            "opened_s": a.opened_s,
            "closed_s": a.closed_s,
            "priority": a.priority,
            "peak_score": a.peak_score,
            "reason": a.reason,
        }
        for a in alerts
    ]


def evaluate_with_truth(result: ReplayResult, truth: VideoTruth, step_s: float = 1.0) -> dict[str, Any]:
    """Every figure of a replay against a sidecar truth (JSON-ready)."""
    if truth.scale is not result.options.scale:
        raise ValueError(f"truth is on {truth.scale.value} but the replay estimated {result.options.scale.value}")
    return {
        "frames": frame_figures(result, truth),
        "windows": window_figures(result, truth, step_s),
        "alerts": alert_figures(result, truth),
        "alert_spans": alert_list(result.alerts),
    }
