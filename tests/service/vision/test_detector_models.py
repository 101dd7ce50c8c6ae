"""Detector model provisioning: sha256 pinning, offline wheels, clear errors (no network here)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from service.errors import UserError
from service.files import file_sha256
from service.vision import detector_models
from service.vision.detector_models import DetectorModel, fetch_detectors, model_path, verify

SHORT_BYTES = b"fake short-range tflite model\x00" * 10
FULL_BYTES = b"fake full-range tflite model\x01" * 20


def fake_model(key: str, content: bytes) -> DetectorModel:
    real = detector_models.DETECTOR_MODELS[key]
    return DetectorModel(real.filename, real.wheel_member, hashlib.sha256(content).hexdigest(), len(content))


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> dict[str, DetectorModel]:
    """Pin the checksums of small fake model files instead of the real ones."""
    models = {
        "short_range": fake_model("short_range", SHORT_BYTES),
        "full_range": fake_model("full_range", FULL_BYTES),
    }
    monkeypatch.setattr(detector_models, "DETECTOR_MODELS", models)
    return models


def build_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mediapipe-0.10.21.dist-info/METADATA", "Name: mediapipe\nVersion: 0.10.21\n")
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_real_pins_match_the_design_notes() -> None:
    short = detector_models.DETECTOR_MODELS["short_range"]
    full = detector_models.DETECTOR_MODELS["full_range"]
    assert short.sha256 == "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
    assert short.size_bytes == 229_714
    assert full.sha256 == "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"
    assert full.size_bytes == 676_746


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 << 20))  # more than one 1 MiB read block
    assert file_sha256(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_fetch_from_a_local_wheel_extracts_and_verifies(tmp_path: Path, fake_models: dict[str, DetectorModel]) -> None:
    wheel = build_wheel(
        tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
        {
            fake_models["short_range"].wheel_member: SHORT_BYTES,
            fake_models["full_range"].wheel_member: FULL_BYTES,
        },
    )
    models_dir = tmp_path / "models"
    paths = fetch_detectors(models_dir, wheel)
    assert paths["short_range"].read_bytes() == SHORT_BYTES
    assert paths["full_range"].read_bytes() == FULL_BYTES
    assert model_path("short_range", models_dir) == models_dir / fake_models["short_range"].filename
    assert sorted(p.name for p in models_dir.iterdir()) == sorted(m.filename for m in fake_models.values())

    # idempotent: verified files are kept, so no wheel is needed the second time
    assert fetch_detectors(models_dir, tmp_path / "no-such.whl") == paths


def test_corrupted_model_in_the_wheel_fails_verification_and_writes_nothing(
    tmp_path: Path, fake_models: dict[str, DetectorModel]
) -> None:
    wheel = build_wheel(
        tmp_path / "mediapipe.whl",
        {
            fake_models["short_range"].wheel_member: SHORT_BYTES[:-1] + b"!",
            fake_models["full_range"].wheel_member: FULL_BYTES,
        },
    )
    models_dir = tmp_path / "models"
    with pytest.raises(UserError, match="does not match the pinned") as info:
        fetch_detectors(models_dir, wheel)
    assert fake_models["short_range"].sha256 in str(info.value)
    assert "painwatch models fetch-detectors" in str(info.value)
    assert not (models_dir / fake_models["short_range"].filename).exists()
    assert not [p for p in models_dir.iterdir() if p.name.endswith(".tmp")]  # no temporary left behind


def test_corrupted_file_on_disk_fails_verify_and_is_refetched(
    tmp_path: Path, fake_models: dict[str, DetectorModel]
) -> None:
    model = fake_models["short_range"]
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    on_disk = models_dir / model.filename
    on_disk.write_bytes(SHORT_BYTES.replace(b"fake", b"evil"))
    with pytest.raises(UserError, match=f"sha256 {file_sha256(on_disk)} does not match the pinned {model.sha256}"):
        verify(on_disk, model)

    wheel = build_wheel(
        tmp_path / "m.whl",
        {model.wheel_member: SHORT_BYTES, fake_models["full_range"].wheel_member: FULL_BYTES},
    )
    fetch_detectors(models_dir, wheel)
    assert on_disk.read_bytes() == SHORT_BYTES


def test_wheel_without_the_model_member_is_a_clear_error(tmp_path: Path, fake_models: dict[str, DetectorModel]) -> None:
    wheel = build_wheel(tmp_path / "other.whl", {"other/file.txt": b"hello"})
    with pytest.raises(UserError, match="has no mediapipe/modules/face_detection/"):
        fetch_detectors(tmp_path / "models", wheel)


def test_not_a_zip_is_a_clear_error(tmp_path: Path, fake_models: dict[str, DetectorModel]) -> None:
    wheel = tmp_path / "broken.whl"
    wheel.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable wheel"):
        fetch_detectors(tmp_path / "models", wheel)


def test_missing_model_names_the_fetch_command_and_the_env_variable(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        model_path("full_range", tmp_path)
    message = str(info.value)
    assert "painwatch models fetch-detectors" in message
    assert detector_models.MODELS_DIR_ENV in message
    assert str(tmp_path / "face_detection_full_range_sparse.tflite") in message


def test_models_dir_env_overrides_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(detector_models.MODELS_DIR_ENV, str(tmp_path / "site-models"))
    assert detector_models.default_models_dir() == tmp_path / "site-models"
    monkeypatch.delenv(detector_models.MODELS_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert detector_models.default_models_dir() == tmp_path / "cache" / "painwatch" / "models"
