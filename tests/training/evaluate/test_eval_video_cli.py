"""`painwatch eval-video` through the real CLI: a short scripted video against its sidecar and against a rater
manifest, with a model whose output is a known function of the crop (tests/support/models.py), so the figures are
known in advance; bad input is one clear error and exit code 2, with nothing written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from service.demo_video import ScriptStep, write_scripted_demo
from tests.support.cli import PAINWATCH
from tests.support.detectors import require_detector_models
from tests.support.models import write_dark_mouth_model

REPO = Path(__file__).resolve().parents[3]
DEMO_MODEL = REPO / "exported_models" / "demo-synthetic" / "1"
SHORT_SCRIPT = (
    ScriptStep("calm", 7.5), ScriptStep("pain", 12.0), ScriptStep("calm", 14.0), ScriptStep("no_face", 4.0),
    ScriptStep("calm", 4.0),
)  # fmt: skip
CONFIG = "aggregation:\n  window_s: 6.15\nalerts:\n  open_after_s: 1.95\n  close_after_s: 2.95\nbeds: []\n"
"""A service config: its aggregation and alerts sections are used, other keys ignored (see test_replay.py for why
these numbers)."""


def painwatch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [*PAINWATCH, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_detector_models()
    folder = tmp_path_factory.mktemp("eval")
    video, sidecar = write_scripted_demo(folder / "short.mp4", SHORT_SCRIPT, 10.0)
    model = write_dark_mouth_model(folder / "model" / "1", DEMO_MODEL)
    config = folder / "site.yaml"
    config.write_text(CONFIG)
    return {"folder": folder, "video": video, "sidecar": sidecar, "model": model, "config": config}


def test_against_the_sidecar(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = painwatch("eval-video", inputs["video"], "--truth", inputs["sidecar"], "--model", inputs["model"],
                       "--config", inputs["config"], "-o", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json", "report.html", "report.md", "timeline.png"]
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "evaluation.json").read_text())
    model = report["model"]
    assert (model["name"], model["version"], model["demo"]) == ("dark-mouth", "1", True)
    assert model["file"] == str(inputs["model"] / "model.onnx") and len(model["sha256"]) == 64
    assert report["truth"] == {"kind": "sidecar", "path": str(inputs["sidecar"]), "synthetic": True}
    frames, windows, alerts = (report["figures"][k] for k in ("frames", "windows", "alerts"))
    # 5 analysed frames per video second: every second frame of 415
    assert frames["analysed"] == 208 and frames["states"] == {"ok": 188, "no_face": 20, "model_error": 0}
    assert frames["roc_auc"] == 1.0 and frames["roc_auc_frames"] == {"pain": 60, "calm": 128}
    assert frames["no_face_share"] == pytest.approx(20 / 208)
    assert (windows["compared"], windows["skipped_low_evidence"], windows["weighted_kappa_linear"]) == (32, 4, 1.0)
    # first pain frame analysed at 7.6 s; >= 2.05 s of pain in the window at 9.8 s; held 1.95 s: 11.8 s
    assert alerts["pain_onsets"][0]["latency_s"] == pytest.approx(4.3, abs=1e-6)
    assert alerts["false_pain_alerts"] == 0 and alerts["false_pain_alerts_per_hour"] == 0.0
    [span] = report["figures"]["alert_spans"]
    assert span["kind"] == "pain_episode" and span["closed_s"] == pytest.approx(28.8)
    markdown = (out / "report.md").read_text()
    assert "| Frame ROC-AUC (pain vs calm) | 1.000 |" in markdown
    assert "| Alert latency from onset (median) | 4.3 s |" in markdown
    assert "Frame ROC-AUC (pain vs calm)</td><td>1.000</td>" in (out / "report.html").read_text()
    assert "Frame ROC-AUC (pain vs calm): 1.000" in result.stdout


def test_against_a_rater_manifest(inputs: dict[str, Path], tmp_path: Path) -> None:
    manifest = inputs["folder"] / "manifest.csv"
    manifest.write_text(
        "video_id,infant_id,path,scale,rater,face,window_start_s,window_end_s\n"
        "bed1-a,infant-1,short.mp4,DAN,nurse-1,4,8.0,19.0\n"
        "bed1-a,infant-1,short.mp4,DAN,nurse-2,3,8.0,19.0\n"
        "bed1-b,infant-1,short.mp4,DAN,nurse-1,0,21.0,33.0\n"
    )
    out = tmp_path / "report"
    result = painwatch("eval-video", inputs["video"], "--truth", manifest, "--model", inputs["model"], "-o", out)
    assert result.returncode == 0, result.stderr
    windows = json.loads((out / "evaluation.json").read_text())["figures"]["windows"]
    rated = [(w["video_id"], w["truth"], w["estimate"]) for w in windows["rated_windows"]]
    assert rated == [("bed1-a", 4, 4), ("bed1-b", 0, 0)]  # DAN face = maximum over raters
    assert windows["compared"] == 2 and windows["weighted_kappa_linear"] == 1.0
    report = (out / "report.md").read_text()
    assert "nurse-1=4, nurse-2=3" in report and "Not computed: a rater manifest has no frame-level truth" in report

    other = inputs["folder"] / "other.csv"
    other.write_text("video_id,infant_id,path,scale,rater,face\nx,infant-1,site.yaml,DAN,nurse-1,0\n")
    missing = painwatch("eval-video", inputs["video"], "--truth", other, "-o", tmp_path / "none")
    assert_user_error(missing, f"{other}: no row's path is {inputs['video']}")
    assert not (tmp_path / "none").exists()


def test_bad_input_is_one_clear_error(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "never"
    video, model = inputs["video"], inputs["model"]
    bad = json.loads(inputs["sidecar"].read_text())
    bad["segments"][1]["label"] = "crying"
    truth = tmp_path / "bad.truth.json"
    truth.write_text(json.dumps(bad))
    result = painwatch("eval-video", video, "--truth", truth, "--model", model, "-o", out)
    assert_user_error(result, f"error: {truth}: 1 problem(s)", "key 'segments[1].label': must be one of")

    other, _ = write_scripted_demo(tmp_path / "other.mp4", (ScriptStep("calm", 2.0),), 10.0)
    result = painwatch("eval-video", other, "--truth", inputs["sidecar"], "--model", model, "-o", out)
    assert_user_error(result, f"{inputs['sidecar']}: key 'duration_s' is 41.5 s but {other} lasts 2 s")

    result = painwatch("eval-video", tmp_path / "nope.mp4", "--truth", inputs["sidecar"], "-o", out)
    assert_user_error(result, f"error: {tmp_path / 'nope.mp4'}: video file not found")

    result = painwatch("eval-video", video, "--truth", tmp_path / "truth.txt", "-o", out)
    assert_user_error(result, "--truth must be a sidecar .json or a rater manifest .csv")

    config = tmp_path / "bad.yaml"
    config.write_text("aggregation:\n  window_seconds: 30\n")
    result = painwatch("eval-video", video, "--truth", inputs["sidecar"], "--config", config, "-o", out)
    assert_user_error(result, f"{config}: invalid `aggregation` section", "window_seconds: unknown key")

    result = painwatch("eval-video", video, "--truth", inputs["sidecar"], "--model", tmp_path, "-o", out)
    assert_user_error(result, f"{tmp_path}: no model file")
    assert not out.exists()
