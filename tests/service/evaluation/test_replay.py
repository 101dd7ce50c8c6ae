"""The offline replay on a short scripted video agrees with its truth, with exact values.

The video is the scripted demo's renderer on a short script; the model is `write_dark_mouth_model`, whose pain
probability is a known function of the crop (dark mouth -> ~1, calm smile -> ~0), so every figure is known in
advance from the service's rules (derivations beside each assert). Real detector, crop, engine, aggregator and
alert engine; nothing mocked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.aggregation import AggregationParams
from service.alerts.params import AlertParams
from service.demo_video import ScriptStep, write_scripted_demo
from service.evaluation.evaluate import evaluate_with_truth
from service.evaluation.replay import ReplayOptions, ReplayResult, replay_video
from service.evaluation.truth import read_truth
from tests.support.detectors import require_detector_models
from tests.support.models import write_dark_mouth_model

DEMO_MODEL = Path(__file__).resolve().parents[3] / "exported_models" / "demo-synthetic" / "1"
SHORT_SCRIPT = (
    ScriptStep("calm", 7.5),
    ScriptStep("pain", 12.0),
    ScriptStep("calm", 14.0),
    ScriptStep("no_face", 4.0),
    ScriptStep("calm", 4.0),
)
"""Boundaries at x.5 s, compared windows end at x.15 s: no window fraction lands on a rule threshold."""
FPS = 10.0
WINDOW_S = 6.15
"""DAN 3 from a pain share of 1/3 = 2.05 s of pain, DAN 4 above 2/3 = 4.1 s: both between frame times."""
OPTIONS = ReplayOptions(
    aggregation=AggregationParams(window_s=WINDOW_S),
    alerts=AlertParams(open_after_s=1.95, close_after_s=2.95),
    rate_hz=None,  # every frame: observations every 0.1 s
)


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require_detector_models()
    return write_scripted_demo(tmp_path_factory.mktemp("short") / "short.mp4", SHORT_SCRIPT, FPS)


@pytest.fixture(scope="module")
def replayed(short_video: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> ReplayResult:
    model = write_dark_mouth_model(tmp_path_factory.mktemp("model") / "1", DEMO_MODEL)
    return replay_video(short_video[0], model, OPTIONS)


def test_replay_agrees_with_the_truth(short_video: tuple[Path, Path], replayed: ReplayResult) -> None:
    truth = read_truth(short_video[1])
    assert replayed.frame_count == truth.frame_count == 415 and len(replayed.frames) == 415
    figures = evaluate_with_truth(replayed, truth)
    frames = figures["frames"]
    # the face is found in every calm and pain frame and in no no_face frame
    assert {k: (v["analysed"], v["face_found"]) for k, v in frames["by_truth_label"].items()} == {
        "calm": (255, 255), "pain": (120, 120), "no_face": (40, 0),
    }  # fmt: skip
    assert frames["no_face_share"] == pytest.approx(40 / 415)
    assert frames["states"] == {"ok": 375, "no_face": 40, "model_error": 0}
    # every pain frame's probability is above every calm frame's
    assert frames["roc_auc"] == 1.0 and frames["roc_auc_frames"] == {"pain": 120, "calm": 255}

    windows = figures["windows"]
    # windows end at 6.15, 7.15, ..., 41.15 (36); those with more than half of their 6.15 s without a face (ending
    # at 37.15, 38.15, 39.15, 40.15) are low evidence; the other 32 all give the truth's score
    assert (windows["windows"], windows["compared"], windows["skipped_low_evidence"], windows["skipped_unknown"]) == (
        36, 32, 4, 0,
    )  # fmt: skip
    assert windows["weighted_kappa_linear"] == 1.0 and windows["exact_agreement"] == 1.0
    assert [p["estimate"] for p in windows["series"][:8]] == [0, 0, 2, 2, 3, 3, 4, 4]  # ends 6.15 .. 13.15

    alerts = figures["alerts"]
    # pain from 7.5 s: the window holds >= 2.05 s of pain at 9.6 s (DAN 3), which must last 1.95 s: opens at 11.6 s
    [onset] = alerts["pain_onsets"]
    assert onset["onset_s"] == 7.5 and onset["latency_s"] == pytest.approx(4.1, abs=1e-6)
    assert alerts["false_pain_alerts"] == 0 and alerts["false_pain_alerts_per_hour"] == 0.0
    assert alerts["calm_hours"] == pytest.approx((7.5 + 14 + 4) / 3600)
    # the last pain frame (19.4 s) leaves the window after 25.65 s: DAN 0 from 25.7 s, for 2.95 s: closes at 28.7 s
    [episode] = replayed.alerts
    assert episode.kind == "pain_episode" and episode.peak_score == 4
    assert episode.opened_s == pytest.approx(11.6) and episode.closed_s == pytest.approx(28.7)


def test_an_inverted_model_scores_badly(short_video: tuple[Path, Path], tmp_path: Path) -> None:
    model = write_dark_mouth_model(tmp_path / "inverted" / "1", DEMO_MODEL, invert=True)
    result = replay_video(short_video[0], model, ReplayOptions(
        aggregation=OPTIONS.aggregation, alerts=OPTIONS.alerts, rate_hz=5.0))  # fmt: skip
    figures = evaluate_with_truth(result, read_truth(short_video[1]))
    assert len(result.frames) == 208  # every second frame of 415 (5 per video second)
    assert figures["frames"]["roc_auc"] == 0.0
    # calm looks like pain from the start: the first alert opens in the calm lead-in, long before the onset
    assert result.alerts[0].opened_s < 7.5 and figures["alerts"]["false_pain_alerts"] >= 1
    assert figures["windows"]["weighted_kappa_linear"] < 0
