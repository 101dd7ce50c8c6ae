"""The scripted demo video: its frames show what its truth sidecar says (a face with or without the cohort's pain
cues, or no face), it is deterministic, and `ensure_demo_video` replaces an older cached demo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.demo_video import (
    ASTRONAUT_KEYPOINTS,
    DEMO_GENERATOR,
    DEMO_SCRIPT,
    ScriptStep,
    astronaut_rgb,
    ensure_demo_video,
    write_demo_video,
    write_scripted_demo,
)
from service.evaluation.truth import read_truth, truth_path_for
from service.vision.crop import crop_face
from service.vision.detectors import best_face, create_detector
from tests.support.detectors import require_detector_models
from tests.support.models import MOUTH_COLS, MOUTH_ROWS

SCRIPT = (ScriptStep("calm", 2.0), ScriptStep("pain", 3.0), ScriptStep("no_face", 1.5), ScriptStep("calm", 1.5))


def _frames(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_pinned_keypoints_are_the_detectors() -> None:
    require_detector_models()
    detector = create_detector("mediapipe-short", mode="image")
    try:
        face = best_face(detector.detect(astronaut_rgb()))
    finally:
        detector.close()
    assert face is not None
    assert np.abs(np.asarray(face.keypoints) - np.asarray(ASTRONAUT_KEYPOINTS)).max() < 1.0


def test_frames_show_what_the_sidecar_says(tmp_path: Path) -> None:
    require_detector_models()
    video, sidecar = write_scripted_demo(tmp_path / "scripted.mp4", SCRIPT, fps=10.0)
    assert sidecar == truth_path_for(video)
    truth = read_truth(sidecar)
    assert truth.generator == DEMO_GENERATOR and truth.synthetic and truth.video == "scripted.mp4"
    frames = _frames(video)
    assert len(frames) == truth.frame_count == 80
    detector = create_detector("mediapipe-short", mode="video")
    mouth: dict[str, list[float]] = {"calm": [], "pain": []}
    try:
        for index, rgb in enumerate(frames):
            t = index / truth.fps
            label = truth.label_at(t)
            face = best_face(detector.detect(rgb, round(t * 1000)))
            assert (face is not None) == (label != "no_face"), f"frame {index} ({t:.1f} s, {label})"
            if face is not None:
                crop, _ = crop_face(rgb, face)
                mouth[label].append(float(crop[MOUTH_ROWS[0] : MOUTH_ROWS[1], MOUTH_COLS[0] : MOUTH_COLS[1]].mean()))
    finally:
        detector.close()
    # the cohort's crying mouth is drawn in every pain frame and in no calm one
    assert len(mouth["pain"]) == 30 and len(mouth["calm"]) == 35
    assert max(mouth["pain"]) + 15 < min(mouth["calm"])


def test_deterministic_and_replaces_an_old_cache(tmp_path: Path) -> None:
    first, _ = write_scripted_demo(tmp_path / "a" / "demo.mp4", SCRIPT, fps=10.0)
    second, _ = write_scripted_demo(tmp_path / "b" / "demo.mp4", SCRIPT, fps=10.0)
    assert all(np.array_equal(x, y) for x, y in zip(_frames(first), _frames(second), strict=True))
    # an older cache: the drifting-photo video without a sidecar
    cached = write_demo_video(tmp_path / "cache" / "demo.mp4", seconds=1.0, fps=5.0, face_until_s=1.0)
    assert ensure_demo_video(cached, SCRIPT, 10.0) == cached
    assert len(_frames(cached)) == 80 and read_truth(truth_path_for(cached)).frame_count == 80
    stamp = cached.stat().st_mtime_ns
    ensure_demo_video(cached, SCRIPT, 10.0)  # current: kept
    assert cached.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_the_demo_script_renders_as_its_truth(tmp_path: Path) -> None:
    """The full demo (260 s at 10 fps): every 10th frame shows a face exactly where the sidecar says."""
    require_detector_models()
    video, sidecar = write_scripted_demo(tmp_path / "synthetic-demo.mp4", DEMO_SCRIPT)
    truth = read_truth(sidecar)
    assert min(s.end_s - s.start_s for s in truth.pain_segments()) >= 60.0
    detector = create_detector("mediapipe-short", mode="video")
    try:
        for index, rgb in enumerate(_frames(video)):
            if index % 10 == 0:
                t = index / truth.fps
                found = best_face(detector.detect(rgb, round(t * 1000))) is not None
                assert found == (truth.label_at(t) != "no_face"), f"frame {index}"
    finally:
        detector.close()
