"""Bad inputs through the real `painwatch` CLI: one clear message, exit code 2, nothing written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import PAINWATCH

REPO = Path(__file__).resolve().parents[3]


def painwatch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [*PAINWATCH, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "run"


def test_missing_dataset_file(tiny_config, out: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nowhere" / "dataset.csv"
    result = painwatch("train", "--config", tiny_config(), "--dataset", missing, "-o", out)
    assert_user_error(result, f"error: {missing}: dataset file not found")
    assert not out.exists()


def test_dataset_with_one_class_only(tiny_config, make_dataset, out: Path) -> None:  # type: ignore[no-untyped-def]
    csv_path = make_dataset(pain_per_infant=0)
    result = painwatch("train", "--config", tiny_config(), "--dataset", csv_path, "-o", out)
    assert_user_error(result, f"{csv_path}: every crop is labelled 'nonpain' (32 crops)", "both 'nonpain' and 'pain'")
    assert not out.exists()


def test_fewer_infants_than_folds(tiny_config, make_dataset, out: Path) -> None:  # type: ignore[no-untyped-def]
    csv_path = make_dataset(infants=3)
    result = painwatch("train", "--config", tiny_config(folds=5), "--dataset", csv_path, "-o", out)
    assert_user_error(result, "3 infant(s) but the config asks for 5 folds", "Lower evaluation.folds")
    assert not out.exists()


def test_unknown_config_key(tiny_config, make_dataset, out: Path) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(extra="augmentation: {rotation_degree: 10}\n")
    result = painwatch("train", "--config", config, "--dataset", make_dataset(), "-o", out)
    assert_user_error(
        result, "tiny.yaml:7: augmentation.rotation_degree: unknown key; did you mean `augmentation.rotation_degrees`?"
    )
    assert not out.exists()


def test_wrong_weights_file(tiny_config, make_dataset, out: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    weights = tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5"
    weights.write_bytes(b"this is not HDF5")
    args = ("train", "--config", tiny_config(), "--dataset", make_dataset(), "-o", out)
    result = painwatch(*args, "--backbone-weights", weights)
    assert_user_error(result, f"{weights}: not an HDF5 file")
    assert not out.exists()
    result = painwatch(*args, "--backbone-weights", tmp_path / "missing.h5")
    assert_user_error(result, "missing.h5: backbone weights file not found")
    assert not (out / "results.json").exists()
