"""MediaPipe face-detector model files: where they live, their pinned checksums, and how they are provisioned.

mediapipe 1.2.x ships no models; the Tasks-compatible files (with metadata) ship inside the mediapipe 0.10.21
wheel on PyPI. `painwatch models fetch-detectors` downloads that wheel with pip (a package registry, at install
time), extracts the two files and checks their sha256. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from service.errors import UserError
from service.files import atomic_path, file_sha256
from service.paths import user_cache_dir
from service.registry import pip_download

logger = logging.getLogger(__name__)

MODELS_DIR_ENV = "PAINWATCH_MODELS_DIR"
FETCH_COMMAND = "painwatch models fetch-detectors"
SOURCE_WHEEL = "mediapipe==0.10.21"


@dataclass(frozen=True)
class DetectorModel:
    """One provisioned model file."""

    filename: str
    wheel_member: str
    sha256: str
    size_bytes: int


DETECTOR_MODELS: dict[str, DetectorModel] = {
    "short_range": DetectorModel(
        filename="face_detection_short_range.tflite",
        wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        size_bytes=229_714,
    ),
    "full_range": DetectorModel(
        filename="face_detection_full_range_sparse.tflite",
        wheel_member="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        size_bytes=676_746,
    ),
}


def default_models_dir() -> Path:
    """$PAINWATCH_MODELS_DIR if set (a site's own copy), else the per-user cache folder."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override)
    return user_cache_dir() / "models"


def model_path(key: str, models_dir: Path | None = None) -> Path:
    """Path of a provisioned detector model; a missing or altered file is one clear UserError."""
    model = DETECTOR_MODELS[key]
    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    path = folder / model.filename
    if not path.is_file():
        raise UserError(
            f"face-detector model {path} is missing: run `{FETCH_COMMAND}` "
            f"(or point {MODELS_DIR_ENV} at a folder holding {model.filename})"
        )
    return path


def verify(path: Path, model: DetectorModel) -> None:
    actual = file_sha256(path)
    if actual != model.sha256:
        raise UserError(
            f"{path}: sha256 {actual} does not match the pinned {model.sha256}; delete it and run `{FETCH_COMMAND}`"
        )


def fetch_detectors(models_dir: Path | None = None, wheel: Path | None = None) -> dict[str, Path]:
    """Provision both detector models into `models_dir` (idempotent: verified files are kept).

    `wheel` may name an already downloaded mediapipe 0.10.21 wheel (offline sites); otherwise pip fetches it.
    """
    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {key: m for key, m in DETECTOR_MODELS.items() if not _is_valid(folder / m.filename, m)}
    if wanted:
        with tempfile.TemporaryDirectory(prefix="painwatch-wheel-") as tmp:
            source = wheel if wheel is not None else _download_wheel(Path(tmp))
            _extract(source, wanted, folder)
    return {key: folder / m.filename for key, m in DETECTOR_MODELS.items()}


def _is_valid(path: Path, model: DetectorModel) -> bool:
    return path.is_file() and file_sha256(path) == model.sha256


def _download_wheel(dest: Path) -> Path:
    return pip_download(
        SOURCE_WHEEL, dest,
        ["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"],
        "mediapipe-*.whl", "to extract its face-detector models",
        f"on an offline site copy the wheel here and pass --wheel, or set {MODELS_DIR_ENV}",
    )  # fmt: skip


def _extract(wheel: Path, wanted: dict[str, DetectorModel], folder: Path) -> None:
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"{wheel}: not a readable wheel ({exc})") from exc
    with archive:
        names = set(archive.namelist())
        for model in wanted.values():
            if model.wheel_member not in names:
                raise UserError(f"{wheel}: has no {model.wheel_member}; is it the {SOURCE_WHEEL} wheel?")
            target = folder / model.filename
            with atomic_path(target) as tmp:
                tmp.write_bytes(archive.read(model.wheel_member))
                verify(tmp, model)
            logger.info("provisioned %s", target)
