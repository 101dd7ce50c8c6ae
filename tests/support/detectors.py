"""The MediaPipe detector models a test needs: provisioned by every `make` target (`painwatch models
fetch-detectors`); without them the test skips with the command to run, or fails under `CI=true`."""

from __future__ import annotations

from service.vision import detector_models
from tests.support.ci import require_or_skip


def require_detector_models() -> None:
    folder = detector_models.default_models_dir()
    missing = [m.filename for m in detector_models.DETECTOR_MODELS.values() if not (folder / m.filename).is_file()]
    if missing:
        require_or_skip(f"MediaPipe detector models {missing} not in {folder}: run `painwatch models fetch-detectors`")
