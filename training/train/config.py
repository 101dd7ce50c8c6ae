"""The training config: strict pydantic models, loaded as the commented default YAML plus a preset or file.

`load_config("mpain")` merges the shipped preset `mpain.yaml` onto `default.yaml`; `load_config(path)` merges
the user's YAML file (which may name a preset to start from with `extends: mpain`). Problems are reported by the
project's one config error formatter (service/config/problems.py): file, line, key path, "did you mean".
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.config.problems import ConfigError, YamlSource, parse_yaml, read_yaml_file, suggest, validate

logger = logging.getLogger(__name__)

CONFIG_PACKAGE: Final = "training.configs"
DEFAULT_NAME: Final = "default"
PRESETS: Final = ("mpain", "icope", "mpain_icope", "videodol")
"""The thesis's four experiments."""
DEMO_PRESETS: Final = ("demo",)
"""Not a thesis experiment: the synthetic demo model's recipe (`demo.yaml`)."""
EXTENDS_KEY: Final = "extends"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    input_size: int = Field(description="Input side in pixels; a multiple of 32 (224 is the export contract).")
    l1: float = Field(ge=0, description="L1 coefficient on the head's Dense kernels.")
    dropout: float = Field(ge=0, lt=1, description="Dropout rate after each hidden Dense layer.")
    trainable_from: Literal["conv5_1", "conv5_2", "conv5_3"] = Field(
        description="First trainable layer: conv5_1 (thesis: block 5 + head) or later inside block 5."
    )

    @field_validator("input_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value < 32 or value % 32:
            raise ValueError(f"must be a multiple of 32 and at least 32 (five 2x2 poolings), got {value}")
        return value


class OptimizerConfig(_Strict):
    name: Literal["adam"] = Field(description="Optimizer; the thesis uses Adam.")
    learning_rate: float = Field(gt=0, description="Adam learning rate (5e-6; 1e-5 for iCOPE).")


class EarlyStoppingConfig(_Strict):
    enabled: bool = Field(description="Stop a fold when the monitored value stops improving.")
    monitor: Literal["val_loss"] = Field(description="Monitored value (validation loss, as in the thesis).")
    patience: int = Field(ge=1, description="Epochs without improvement before stopping.")


class TrainingConfig(_Strict):
    batch_size: int = Field(ge=1, description="Mini-batch size.")
    max_epochs: int = Field(ge=1, description="Most epochs per fold.")
    class_weights: Literal["balanced", "none"] = Field(
        description="`balanced`: n / (2 * n_class) on each training part; `none`: all 1."
    )
    loss: Literal["categorical_crossentropy"] = Field(description="Loss on the softmax output.")
    early_stopping: EarlyStoppingConfig = Field(description="Early stopping on the validation loss.")
    keep_weights: Literal["best_val_accuracy", "last_epoch"] = Field(
        description="Weights a fold keeps: the best validation accuracy (thesis) or the last epoch."
    )
    cache_pool4: bool = Field(
        description="Train block 5 + head on cached pool4 features of un-augmented crops (needs augmentation off)."
    )
    unit_rms_features: bool = Field(
        description="Scale the last frozen convolution so the trainable part's input has RMS 1 (exact: ReLU)."
    )
    standardize_head_input: bool = Field(
        description="Fit with the GAP features standardised (training-part statistics), then fold that into fc1."
    )


class AugmentationConfig(_Strict):
    enabled: bool = Field(description="Augment training images (and validation images, see below).")
    apply_to_validation: bool = Field(description="Augment the validation data too, as the thesis did.")
    horizontal_flip: bool = Field(description="Random horizontal flips.")
    rotation_degrees: float = Field(ge=0, le=180, description="Random rotation within +- this many degrees.")
    brightness: tuple[float, float] = Field(description="Brightness multiplier range [low, high].")

    @field_validator("brightness")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(f"must be [low, high] with 0 < low <= high, got {list(value)}")
        return value


class EvaluationConfig(_Strict):
    scheme: Literal["kfold", "holdout"] = Field(description="Grouped k-fold CV or one grouped holdout split.")
    folds: int = Field(ge=2, description="Number of folds (kfold).")
    test_fraction: float = Field(gt=0, lt=1, description="Test share of the infants (holdout).")
    validation_fraction: float = Field(
        ge=0, lt=1, description="Share of each training part's infants used for validation; 0 = none."
    )
    train_only_datasets: list[int] = Field(
        description="0-based indexes of --dataset files used only for training, never validated or tested on."
    )
    final_model: Literal["best_fold", "retrain_all"] = Field(
        description="The deployable final/ checkpoint: the best fold's model, or one retrained on all data."
    )


class ReportConfig(_Strict):
    gradcam_per_group: int = Field(ge=0, description="Grad-CAM grid: crops per (class, correct/wrong) group.")
    mask_share_max_crops: int = Field(ge=0, description="Pain test crops per fold used for the cue-mask share.")


class TrainConfig(_Strict):
    experiment: str = Field(description="Experiment name for results, report and checkpoints.")
    description: str = Field(default="", description="What the recipe is and why (shown in the report and card).")
    seed: int = Field(description="Seed for folds, initialisation, shuffling and augmentation.")
    model: ModelConfig = Field(description="Architecture arguments.")
    optimizer: OptimizerConfig = Field(description="Optimizer settings.")
    training: TrainingConfig = Field(description="Fitting settings.")
    augmentation: AugmentationConfig = Field(description="Image augmentation (thesis 4.3.3).")
    evaluation: EvaluationConfig = Field(description="Cross-validation / holdout settings.")
    report: ReportConfig = Field(description="Report settings.")

    @model_validator(mode="after")
    def _cache_needs_unaugmented(self) -> TrainConfig:
        # Cached features are of un-augmented crops: silently dropping augmentation would change the experiment.
        if self.training.cache_pool4 and self.augmentation.enabled:
            raise ValueError(
                "training.cache_pool4: true needs augmentation.enabled: false (the cache holds features of "
                "un-augmented crops)"
            )
        if self.training.keep_weights == "best_val_accuracy" and self.evaluation.validation_fraction == 0:
            raise ValueError(
                "training.keep_weights: best_val_accuracy needs evaluation.validation_fraction > 0 "
                "(or keep_weights: last_epoch)"
            )
        if self.training.early_stopping.enabled and self.evaluation.validation_fraction == 0:
            raise ValueError("training.early_stopping needs evaluation.validation_fraction > 0 (or enabled: false)")
        return self

    def with_epochs(self, epochs: int) -> TrainConfig:
        """A copy with training.max_epochs replaced (the CLI's --epochs)."""
        training = self.training.model_copy(update={"max_epochs": epochs})
        return self.model_copy(update={"training": training})


def load_config(source: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults + a preset name (`mpain`, ...) or a YAML file path (+ optional overrides dict)."""
    merged = _read_packaged(DEFAULT_NAME)
    layer, origin = _resolve(source)
    preset = layer.pop(EXTENDS_KEY, None)
    if preset is not None:
        where = origin.where((EXTENDS_KEY,))
        merged = deep_merge(merged, _read_packaged(_preset_name(str(preset), f"{where}: {EXTENDS_KEY}")))
    merged = deep_merge(merged, layer)
    if overrides:
        merged = deep_merge(merged, overrides)
    return validate_config(merged, origin)


def validate_config(data: dict[str, Any], origin: str | YamlSource) -> TrainConfig:
    """Validate a merged config dict; every problem becomes one line of a ConfigError naming the key path (and the
    line, when the key is in the user's file), with a "did you mean" (service/config/problems.py)."""
    source = origin if isinstance(origin, YamlSource) else YamlSource(origin)
    return validate(TrainConfig, data, source, "training config")


def deep_merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """`layer` onto `base`: nested dicts merge key by key, everything else (lists too) replaces."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve(source: str | Path) -> tuple[dict[str, Any], YamlSource]:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path.absolute()}: config file not found (or give a preset: {', '.join(PRESETS)})")
        return read_yaml_file(path, "training config")
    name = _preset_name(str(source), "--config")
    return _read_packaged(name), YamlSource(f"preset {name}")


def _preset_name(name: str, where: str) -> str:
    known = (*PRESETS, *DEMO_PRESETS)
    if name in known:
        return name
    hint = suggest(name, list(known))
    suggestion = f"; did you mean `{hint}`?" if hint else ""
    raise ConfigError(
        f"{where}: `{name}` is neither a YAML file nor a preset{suggestion} (presets: {', '.join(known)})"
    )


def _read_packaged(name: str) -> dict[str, Any]:
    text = resources.files(CONFIG_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return parse_yaml(text, f"{name}.yaml", "training config")[0]


def config_summary(config: TrainConfig) -> dict[str, Any]:
    """The config as plain JSON-able data (for results.json and checkpoint info)."""
    return config.model_dump(mode="json")
