"""Aggregation numbers: time weighting, scale mapping, evidence and smoothing, with exact values."""

from __future__ import annotations

import math

import pytest

from service.aggregation import (
    AggregationParams,
    BedAggregator,
    DanFaceRule,
    Scale,
    ScaleRules,
    estimate_face_score,
)

PARAMS = AggregationParams(window_s=10.0, max_hold_s=1.0, min_face_share=0.5)


@pytest.mark.parametrize(
    ("fraction", "score"),
    [(None, None), (0.0, 0), (0.01, 2), (0.33, 2), (1 / 3, 3), (0.5, 3), (2 / 3, 3), (0.67, 4), (1.0, 4)],
)
def test_dan_face_rule(fraction: float | None, score: int | None) -> None:
    assert estimate_face_score(Scale.DAN, fraction, ScaleRules()) == score


@pytest.mark.parametrize(("fraction", "score"), [(None, None), (0.0, 0), (0.2, 1), (0.49, 1), (0.5, 2), (1.0, 2)])
def test_flacc_face_rule(fraction: float | None, score: int | None) -> None:
    assert estimate_face_score(Scale.FLACC, fraction, ScaleRules()) == score


def test_dan_never_estimates_one_and_thresholds_are_configurable() -> None:
    scores = {estimate_face_score(Scale.DAN, f / 100, ScaleRules()) for f in range(101)}
    assert scores == {0, 2, 3, 4}
    tolerant = ScaleRules(dan=DanFaceRule(none_max=0.1))
    assert estimate_face_score(Scale.DAN, 0.1, tolerant) == 0
    assert estimate_face_score(Scale.DAN, 0.11, tolerant) == 2


def test_unordered_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="none_max < long_from"):
        DanFaceRule(none_max=0.5, long_from=0.4)


def test_fraction_is_time_weighted_not_frame_counted() -> None:
    """3 s of pain at 10 frames/s then 3 s without pain at 1 frame/s: half the time, though 30 of 33 frames."""
    agg = BedAggregator(Scale.DAN, PARAMS)
    for i in range(30):
        agg.add_face(100.0 + i * 0.1, 0.9)
    for i in range(4):
        agg.add_face(103.0 + i, 0.1)
    summary = agg.summary(now=106.0)
    assert summary.pain_s == pytest.approx(3.0)
    assert summary.face_visible_s == pytest.approx(6.0)
    assert summary.pain_fraction == pytest.approx(0.5)
    assert summary.face_visible_share == pytest.approx(0.6)
    assert summary.estimated_score == 3
    assert summary.low_evidence is False


def test_no_face_time_lowers_the_share_not_the_fraction_and_flags_low_evidence() -> None:
    agg = BedAggregator(Scale.FLACC, PARAMS)
    for i in range(2):
        agg.add_face(200.0 + i, 0.8)  # 2 s of pain
    for i in range(6):
        agg.add_no_face(202.0 + i)  # 6 s without a face
    agg.add_face(208.0, 0.2)  # 2 s (held) without pain
    summary = agg.summary(now=210.0)
    assert summary.face_visible_s == pytest.approx(3.0)  # the last frame holds at most max_hold_s = 1 s
    assert summary.pain_fraction == pytest.approx(2 / 3)
    assert summary.face_visible_share == pytest.approx(0.3)
    assert summary.estimated_score == 2
    assert summary.low_evidence is True


def test_gaps_beyond_max_hold_are_not_observed_and_old_frames_leave_the_window() -> None:
    agg = BedAggregator(Scale.DAN, PARAMS)
    agg.add_face(0.0, 0.9)  # holds 0-1 s, then a 9 s gap (camera unplugged)
    agg.add_face(10.0, 0.1)
    assert agg.summary(now=10.5).pain_s == pytest.approx(0.5)  # window 0.5-10.5 keeps half the first frame
    later = agg.summary(now=20.0)
    assert later.pain_s == 0.0 and later.face_visible_s == pytest.approx(1.0)
    assert later.pain_fraction == 0.0 and later.estimated_score == 0


def test_unknown_stops_the_previous_class_holding() -> None:
    agg = BedAggregator(Scale.DAN, PARAMS)
    agg.add_face(0.0, 0.9)
    agg.add_unknown(0.25)
    summary = agg.summary(now=5.0)
    assert summary.pain_s == pytest.approx(0.25)


def test_empty_window_is_unknown() -> None:
    summary = BedAggregator(Scale.DAN, PARAMS).summary(now=1.0)
    assert summary.pain_fraction is None and summary.estimated_score is None
    assert summary.face_visible_share == 0.0 and summary.low_evidence is True


def test_smoothing_is_time_based_and_restarts_after_a_long_gap() -> None:
    agg = BedAggregator(Scale.DAN, AggregationParams(smoothing_tau_s=1.0, smoothing_reset_s=5.0))
    assert agg.add_face(0.0, 0.0) == 0.0
    alpha = 1.0 - math.exp(-1.0)
    assert agg.add_face(1.0, 1.0) == pytest.approx(alpha)
    assert agg.add_face(10.0, 0.3) == pytest.approx(0.3)  # 9 s without a face: no stale memory
