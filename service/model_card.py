"""The model card: what an exported model was trained on, how it scored, and how to feed it (no TensorFlow).

Written by `painwatch export` as `model_card.json` beside `model.onnx` and inside the ONNX metadata
(key `model_card`); read by the service and by `painwatch models list|show`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import UserError

CARD_FILE: Final = "model_card.json"
MODEL_FILE: Final = "model.onnx"
METADATA_KEY: Final = "model_card"
DEFAULT_EXPORT_ROOT: Final = Path("exported_models")


class DatasetSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    infants: int | None = None
    frames: int | None = None
    class_balance: dict[str, int] = Field(default_factory=dict)
    """Frames per class name."""


class TensorSpec(BaseModel):
    name: str
    shape: list[int | str]
    dtype: str = "float32"
    description: str = ""


class ModelCard(BaseModel):
    """Everything the bedside service and a reviewer need to know about one exported model."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = 1
    name: str
    version: str
    created: str
    """ISO 8601 UTC timestamp of the export."""
    git_commit: str | None = None
    demo: bool = False
    intended_use: str
    class_names: list[str] = Field(default_factory=lambda: ["nonpain", "pain"])
    positive_class: int = 1
    architecture: dict[str, Any] = Field(default_factory=dict)
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(default_factory=list)
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    crop: dict[str, Any] = Field(default_factory=dict)
    detector: str | None = None
    datasets: list[DatasetSummary] = Field(default_factory=list)
    cv_metrics: dict[str, Any] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    backbone_weights: str | None = None
    quantization: dict[str, Any] | None = None
    """None for fp32; for INT8 the method and the measured accuracy/F1/speed change against fp32."""
    export_checks: dict[str, Any] = Field(default_factory=dict)
    """Parity measured before writing (max |ONNX - Keras| probabilities, max |ONNX - GradientTape| maps)."""
    warnings: list[str] = Field(default_factory=list)
    command: str = ""

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def parse_card(text: str, source: str) -> ModelCard:
    try:
        return ModelCard.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise UserError(f"{source}: not a valid model card: {exc}") from exc


def load_card(model_dir: Path) -> ModelCard:
    """The card of an exported model folder (or of a `model_card.json` path)."""
    path = Path(model_dir)
    card_path = path if path.is_file() else path / CARD_FILE
    if not card_path.is_file():
        raise UserError(f"{card_path}: model card not found")
    return parse_card(card_path.read_text(encoding="utf-8"), str(card_path))


def find_exported(root: Path = DEFAULT_EXPORT_ROOT) -> list[Path]:
    """Every `<root>/<name>/<version>/` folder holding a model.onnx, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/*/{MODEL_FILE}") if not p.parent.name.startswith("."))
