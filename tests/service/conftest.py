"""Service test fixtures: a real exported model (the demo model when committed, else one exported once here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "exported_models" / "demo-synthetic" / "1"
CACHE_KEY = "painwatch/test-model-224-v1"


def _is_complete(folder: Path) -> bool:
    return (folder / "model.onnx").is_file() and (folder / "model_card.json").is_file()


def _export_random_model(out: Path) -> None:
    """A real 224-px export of the thesis architecture with seeded random weights (~40 s on this CPU)."""
    from training.model.architecture import build_model
    from training.model.checkpoint import save_checkpoint
    from training.model.export import ExportOptions, export_checkpoint

    staging = out.parent / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    save_checkpoint(build_model(seed=3), staging / "ck", {"demo": True})
    export_checkpoint(staging / "ck", out, ExportOptions(name="test-random", version="1", overwrite=True))
    shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="session")
def model_dir(request: pytest.FixtureRequest) -> Path:
    """An exported model folder honouring the contract; exported once and kept in pytest's cache between runs."""
    if _is_complete(DEMO_MODEL):
        return DEMO_MODEL
    cache_root = Path(request.config.cache.mkdir(CACHE_KEY.replace("/", "-")))
    out = cache_root / "exported" / "1"
    if not _is_complete(out):
        _export_random_model(out)
    return out


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the model folder (tests that corrupt or replace files use this)."""
    target = tmp_path / "model" / "1"
    shutil.copytree(model_dir, target)
    return target
