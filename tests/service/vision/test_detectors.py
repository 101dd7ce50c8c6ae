"""The detector registry: every detector finds a real face; bad names and missing models are clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from service.errors import UserError
from service.vision.detectors import DETECTORS, FaceBox, best_face, create_detector
from tests.support.detectors import require_detector_models

ASTRONAUT_FACE = FaceBox(x=177, y=82, w=95, h=95, score=1.0)


def needs_models(name: str) -> None:
    """MediaPipe detectors need the provisioned models (a skip on a developer machine, a failure in CI)."""
    if name.startswith("mediapipe"):
        require_detector_models()


def iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


@pytest.mark.parametrize("name", ["mediapipe-short", "mediapipe-full", "opencv-haar"])
def test_each_registry_detector_finds_the_astronaut_face(name: str) -> None:
    needs_models(name)
    detector = create_detector(name, mode="image")
    try:
        face = best_face(detector.detect(data.astronaut()))
    finally:
        detector.close()
    assert detector.name == name
    assert face is not None
    assert iou(face, ASTRONAUT_FACE) > 0.6, face
    assert 0.5 <= face.score <= 1.0


def test_mediapipe_gives_six_keypoints_inside_the_face() -> None:
    require_detector_models()
    detector = create_detector("mediapipe-short")
    try:
        face = best_face(detector.detect(data.astronaut()))
    finally:
        detector.close()
    assert face is not None and len(face.keypoints) == 6
    for kx, ky in face.keypoints[:4]:  # eyes, nose tip, mouth centre lie inside the box
        assert face.x <= kx <= face.x + face.w and face.y <= ky <= face.y + face.h


def test_video_mode_needs_timestamps_and_tolerates_repeats() -> None:
    require_detector_models()
    detector = create_detector("mediapipe-short", mode="video")
    rgb = data.astronaut()
    try:
        with pytest.raises(ValueError, match="timestamp"):
            detector.detect(rgb)
        assert detector.detect(rgb, timestamp_ms=0)
        assert detector.detect(rgb, timestamp_ms=0)  # same timestamp is bumped, not refused
    finally:
        detector.close()


@pytest.mark.parametrize("name", ["opencv-haar", "mediapipe-short"])
def test_blank_frame_has_no_face(name: str) -> None:
    needs_models(name)
    detector = create_detector(name)
    try:
        assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    finally:
        detector.close()


def test_unknown_detector_name_lists_the_known_ones() -> None:
    with pytest.raises(UserError) as info:
        create_detector("dlib-hog")
    message = str(info.value)
    assert "dlib-hog" in message
    for name in DETECTORS:
        assert name in message


@pytest.mark.parametrize("name", ["mediapipe-short", "mediapipe-full"])
def test_missing_model_file_names_the_fetch_command(name: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="painwatch models fetch-detectors") as info:
        create_detector(name, models_dir=tmp_path)
    assert str(tmp_path) in str(info.value)


def test_best_face_prefers_score_then_area() -> None:
    small_sure = FaceBox(0, 0, 10, 10, 0.9)
    big_sure = FaceBox(0, 0, 50, 50, 0.9)
    big_unsure = FaceBox(0, 0, 200, 200, 0.6)
    assert best_face([big_unsure, small_sure, big_sure]) == big_sure
    assert best_face([]) is None
