"""Checkpoint format: a folder with `model.keras` (the whole Keras model) and `checkpoint.json`.

`checkpoint.json` holds what the export's model card needs and the model file cannot say:

    {
      "format": "painwatch-checkpoint", "format_version": 1,
      "created": "2026-11-03T10:00:00+00:00",
      "input_size": 224, "l1": 1e-05, "dropout": 0.5,       # architecture arguments (filled in here)
      "info": {                                             # the trainer's dict, stored as given
        "datasets": [{"name": "mpain", "infants": 20, "frames": 3200,
                      "class_balance": {"nonpain": 2100, "pain": 1100}}],
        "cv_metrics": {"accuracy": {"mean": 0.87, "std": 0.03}, "f1": {...}, ...},
        "hyperparameters": {"optimizer": "adam", "learning_rate": 5e-6, "batch_size": 32, ...},
        "backbone_weights": "rcmalli_vggface_tf_notop_vgg16.h5" or null,
        "demo": false, "experiment": "mpain", "detector": "mediapipe-short-range",
        "crop": {...CropSpec.as_dict()...}, "warnings": [...], "command": "painwatch train ..."
      }
    }

All `info` keys are optional; the export fills the model card from the ones present.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import keras

from service.errors import UserError
from service.files import atomic_open, atomic_path
from training.model import architecture  # registers VGGFacePreprocess for deserialisation

logger = logging.getLogger(__name__)

FORMAT: Final = "painwatch-checkpoint"
FORMAT_VERSION: Final = 1
MODEL_FILE: Final = "model.keras"
INFO_FILE: Final = "checkpoint.json"


@dataclass
class Checkpoint:
    model: keras.Model
    info: dict[str, Any] = field(default_factory=dict)
    """The trainer's `info` dict (datasets, cv_metrics, hyperparameters, demo, backbone_weights, ...)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The whole checkpoint.json (format, created, input_size, l1, dropout, info)."""
    folder: Path | None = None

    @property
    def input_size(self) -> int:
        return architecture.input_size_of(self.model)


def save_checkpoint(
    model: keras.Model, folder: Path, info: dict[str, Any], l1: float | None = None, dropout: float | None = None
) -> Path:
    """Write `model.keras` and `checkpoint.json` into `folder` (created if needed); each file atomically.

    `info` must be JSON-serialisable. Returns the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_size": architecture.input_size_of(model),
        "l1": l1,
        "dropout": dropout,
        "info": info,
    }
    text = json.dumps(meta, indent=2, sort_keys=False)  # fails before anything is written if not JSON-able
    with atomic_path(folder / MODEL_FILE) as tmp:
        # Keras decides the format from the extension, so save under a .keras name and move it in place.
        staged = tmp.with_suffix(".keras")
        model.save(staged)
        staged.replace(tmp)
    with atomic_open(folder / INFO_FILE, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    logger.info("checkpoint saved to %s", folder)
    return folder


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint folder (or a bare `.keras` file, with empty info)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".keras":
        return Checkpoint(model=_load_model(path), folder=path.parent)
    if not path.is_dir():
        raise UserError(f"{path}: checkpoint not found (expected a folder with {MODEL_FILE} and {INFO_FILE})")
    model_file, info_file = path / MODEL_FILE, path / INFO_FILE
    if not model_file.is_file():
        raise UserError(f"{path}: not a checkpoint folder: {MODEL_FILE} is missing")
    meta: dict[str, Any] = {}
    if info_file.is_file():
        try:
            meta = json.loads(info_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{info_file}: not valid JSON: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise UserError(f"{info_file}: not a painwatch checkpoint (format={meta.get('format')!r})")
    else:
        logger.warning("%s: %s is missing; the model card will lack training information", path, INFO_FILE)
    return Checkpoint(model=_load_model(model_file), info=dict(meta.get("info") or {}), meta=meta, folder=path)


def _load_model(model_file: Path) -> keras.Model:
    try:
        return keras.saving.load_model(model_file, compile=False)
    except Exception as exc:  # Keras raises many types for a bad archive; all mean "unusable file"
        raise UserError(f"{model_file}: could not load the Keras model: {exc}") from exc
