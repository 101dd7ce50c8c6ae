"""The model card: what an exported model was trained on, how it scored, and how to feed it (no TensorFlow).

Written by `painwatch export` as `model_card.json` beside `model.onnx` and inside the ONNX metadata
(key `model_card`); read by the service and by `painwatch models list|show`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import UserError

CARD_FILE: Final = "model_card.json"
MODEL_FILE: Final = "model.onnx"
METADATA_KEY: Final = "model_card"
MODELS_ROOT_ENV: Final = "PAINWATCH_MODELS_ROOT"


def installed_models_root() -> Path:
    """The exported_models folder of this installation (beside the `service` package)."""
    return Path(__file__).resolve().parents[1] / "exported_models"


def default_models_root() -> Path:
    """$PAINWATCH_MODELS_ROOT when set (a site's own model folder), else this installation's exported_models:
    the same from any working directory."""
    override = os.environ.get(MODELS_ROOT_ENV)
    return Path(override).expanduser().absolute() if override else installed_models_root()


DEFAULT_EXPORT_ROOT: Final = installed_models_root()


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


def find_exported(root: Path | None = None) -> list[Path]:
    """Every `<root>/<name>/<version>/` folder holding a model.onnx, sorted."""
    root = Path(root) if root is not None else default_models_root()
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/*/{MODEL_FILE}") if not p.parent.name.startswith("."))


def card_warnings(card: ModelCard, used: list[str], requested: list[str] | None) -> list[tuple[str, str]]:
    """(warning, fix) pairs a reviewer must read before trusting the model's numbers, most serious first: a demo
    model, quantisation deviations, a provider fallback, then the card's own warnings. Shared by `painwatch doctor`
    and GET /api/model."""
    warnings: list[tuple[str, str]] = []
    if card.demo:
        warnings.append((
            f"{card.name}/{card.version} is a DEMO model: {card.intended_use or 'not for clinical use'}",
            "export a model trained on real data and set model.path",
        ))  # fmt: skip
    quant = card.quantization or {}
    if "int8" in quant and "fp32" in quant:
        f1_drop = float(quant["fp32"].get("f1", 0)) - float(quant["int8"].get("f1", 0))
        acc_drop = float(quant["fp32"].get("accuracy", 0)) - float(quant["int8"].get("accuracy", 0))
        warnings.append((
            f"INT8 model: F1 {f1_drop:.3f} and accuracy {acc_drop:.3f} below the fp32 model on held-out crops",
            "use the fp32 export if that drop matters",
        ))  # fmt: skip
    elif "probs_max_abs_vs_fp32" in quant:
        warnings.append((
            f"fp16 weights: probabilities differ from fp32 by up to {float(quant['probs_max_abs_vs_fp32']):.2g}, "
            f"Grad-CAM maps by up to {float(quant.get('maps_max_abs_vs_fp32', 0)):.2g}",
            "use the fp32 export if that matters",
        ))  # fmt: skip
    elif isinstance(measured := quant.get("measured"), dict) and "argmax_cell_agreement" in measured:
        warnings.append((
            f"INT8 blocks 1-4: probabilities differ from fp32 by up to {float(measured['probs_max_abs_vs_fp32']):.2g}, "
            f"Grad-CAM maps by {float(measured['maps_mean_abs_vs_fp32']):.2g} on average, hottest cell kept on "
            f"{float(measured['argmax_cell_agreement']):.0%} of {measured.get('crops', '?')} held-out crops",
            "use the fp32 export if that matters",
        ))  # fmt: skip
    elif quant:
        method = quant.get("method") or quant.get("mode") or "see its card"
        warnings.append((f"quantized model ({method})", "read the card's quantization section"))
    if requested and used and used[0] != requested[0]:
        warnings.append((f"asked for {requested[0]}, running on {used[0]}", "run `painwatch doctor`"))
    warnings.extend((warning, "") for warning in card.warnings)
    return warnings
