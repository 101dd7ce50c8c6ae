"""Face detectors behind one interface, chosen by name from a registry.

- `mediapipe-short`: MediaPipe Tasks FaceDetector, short-range model (faces within ~2 m; the thesis's best
  fast detector on newborns, Table 4.1).
- `mediapipe-full`: MediaPipe Tasks FaceDetector, full-range sparse model (farther faces; best on VideoDol).
- `opencv-haar`: OpenCV's frontal-face Haar cascade (the thesis's "OpenCV" baseline).

Detectors take RGB uint8 frames. In `video` mode MediaPipe tracks across frames and needs increasing
timestamps; `image` mode treats every frame alone (datasets of stills).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from service.errors import UserError
from service.vision import detector_models
from service.vision.mediapipe_import import import_mediapipe

logger = logging.getLogger(__name__)

RunningMode = Literal["image", "video"]


@dataclass(frozen=True)
class FaceBox:
    """A detected face in frame pixels (x, y = top-left corner)."""

    x: int
    y: int
    w: int
    h: int
    score: float
    keypoints: tuple[tuple[float, float], ...] = field(default=())
    """Pixel (x, y) landmarks when the detector gives them. MediaPipe order: right eye, left eye (from the
    subject's view), nose tip, mouth centre, right ear tragion, left ear tragion."""

    @property
    def area(self) -> int:
        return self.w * self.h


class FaceDetector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[FaceBox]:
        """Faces in the frame, best first. `timestamp_ms` is required in video mode and must increase."""
        ...

    def close(self) -> None: ...


def best_face(faces: list[FaceBox]) -> FaceBox | None:
    """The face to analyse: highest score, then largest (one infant per bed camera)."""
    if not faces:
        return None
    return max(faces, key=lambda f: (f.score, f.area))


class MediaPipeDetector:
    """MediaPipe Tasks FaceDetector (the Tasks API; `mp.solutions` no longer exists in mediapipe 1.x)."""

    def __init__(self, name: str, model_file: Path, mode: RunningMode = "image", min_score: float = 0.5) -> None:
        mp, mp_tasks, vision = import_mediapipe()

        self.name = name
        self.mode = mode
        self._mp = mp
        running_mode = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceDetectorOptions(
            base_options=mp_tasks.BaseOptions(model_asset_path=str(model_file)),
            running_mode=running_mode,
            min_detection_confidence=min_score,
        )
        self._detector = vision.FaceDetector.create_from_options(options)
        self._last_ts = -1

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[FaceBox]:
        frame = np.ascontiguousarray(rgb, dtype=np.uint8)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=frame)
        if self.mode == "video":
            if timestamp_ms is None:
                raise ValueError("video-mode detection needs a timestamp_ms")
            ts = max(int(timestamp_ms), self._last_ts + 1)  # MediaPipe refuses non-increasing timestamps
            self._last_ts = ts
            result = self._detector.detect_for_video(image, ts)
        else:
            result = self._detector.detect(image)
        height, width = frame.shape[:2]
        faces = [_from_mediapipe(d, width, height) for d in result.detections]
        return sorted(faces, key=lambda f: -f.score)

    def close(self) -> None:
        self._detector.close()


def _from_mediapipe(detection: object, width: int, height: int) -> FaceBox:
    box = detection.bounding_box  # type: ignore[attr-defined]
    score = float(detection.categories[0].score) if detection.categories else 0.0  # type: ignore[attr-defined]
    keypoints = tuple(
        (float(k.x) * width, float(k.y) * height)
        for k in (detection.keypoints or [])  # type: ignore[attr-defined]
    )
    x0 = max(0, int(box.origin_x))
    y0 = max(0, int(box.origin_y))
    x1 = min(width, int(box.origin_x + box.width))
    y1 = min(height, int(box.origin_y + box.height))
    return FaceBox(x=x0, y=y0, w=max(0, x1 - x0), h=max(0, y1 - y0), score=score, keypoints=keypoints)


class HaarDetector:
    """OpenCV Haar cascade (frontal face). Its `score` is the cascade's level weight squashed to 0..1."""

    def __init__(self, name: str = "opencv-haar", min_size: int = 30) -> None:
        cascade_file = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.name = name
        self._cascade = cv2.CascadeClassifier(str(cascade_file))
        if self._cascade.empty():
            raise UserError(
                f"{cascade_file}: OpenCV Haar cascade could not be loaded (is opencv-contrib-python installed?)"
            )
        self._min_size = min_size

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[FaceBox]:
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        boxes, _levels, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self._min_size, self._min_size), outputRejectLevels=True
        )
        faces = [
            FaceBox(x=int(x), y=int(y), w=int(w), h=int(h), score=float(1.0 / (1.0 + np.exp(-float(s)))))
            for (x, y, w, h), s in zip(boxes, np.ravel(weights), strict=False)
        ]
        return sorted(faces, key=lambda f: -f.score)

    def close(self) -> None:
        pass


DetectorFactory = Callable[[RunningMode, float, Path | None], FaceDetector]


def _mediapipe_factory(name: str, model_key: str) -> DetectorFactory:
    def make(mode: RunningMode, min_score: float, models_dir: Path | None) -> FaceDetector:
        return MediaPipeDetector(name, detector_models.model_path(model_key, models_dir), mode, min_score)

    return make


DETECTORS: dict[str, DetectorFactory] = {
    "mediapipe-short": _mediapipe_factory("mediapipe-short", "short_range"),
    "mediapipe-full": _mediapipe_factory("mediapipe-full", "full_range"),
    "opencv-haar": lambda mode, min_score, models_dir: HaarDetector(),
}


def create_detector(
    name: str, mode: RunningMode = "image", min_score: float = 0.5, models_dir: Path | None = None
) -> FaceDetector:
    """Build a detector by registry name; an unknown name lists the known ones."""
    factory = DETECTORS.get(name)
    if factory is None:
        raise UserError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    return factory(mode, min_score, models_dir)
