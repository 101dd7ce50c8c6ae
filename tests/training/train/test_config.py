"""Training config: defaults, presets, merging, strict keys with "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import UserError
from training.train.config import PRESETS, load_config


def test_defaults_are_the_thesis_hyperparameters() -> None:
    config = load_config("mpain")
    assert config.optimizer.name == "adam" and config.optimizer.learning_rate == 5e-6
    assert config.training.batch_size == 32
    assert config.training.max_epochs == 100
    assert config.training.class_weights == "balanced"
    assert config.training.early_stopping.monitor == "val_loss" and config.training.early_stopping.patience == 15
    assert config.training.keep_weights == "best_val_accuracy"
    aug = config.augmentation
    assert aug.enabled and aug.apply_to_validation and aug.horizontal_flip
    assert aug.rotation_degrees == 30.0 and aug.brightness == (1.0, 1.5)
    assert config.model.input_size == 224 and config.training.cache_pool4 is False


def test_presets_differ_as_the_thesis_experiments() -> None:
    mpain, icope, both, videodol = (load_config(name) for name in PRESETS)
    assert (mpain.evaluation.scheme, mpain.evaluation.folds, mpain.optimizer.learning_rate) == ("kfold", 5, 5e-6)
    assert (icope.evaluation.folds, icope.optimizer.learning_rate) == (10, 1e-5)
    assert both.evaluation.train_only_datasets == [1] and mpain.evaluation.train_only_datasets == []
    assert videodol.evaluation.scheme == "holdout" and videodol.evaluation.test_fraction == 0.25
    assert videodol.training.max_epochs == 20 and videodol.training.keep_weights == "last_epoch"
    assert not videodol.training.early_stopping.enabled
    assert [c.experiment for c in (mpain, icope, both, videodol)] == list(PRESETS)


def test_user_file_extends_a_preset_and_merges_nested_keys(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("extends: icope\nmodel:\n  input_size: 64\ntraining:\n  early_stopping:\n    patience: 3\n")
    config = load_config(path)
    assert config.model.input_size == 64 and config.model.l1 == 1e-5  # sibling kept
    assert config.training.early_stopping.patience == 3 and config.training.early_stopping.enabled
    assert config.evaluation.folds == 10 and config.optimizer.learning_rate == 1e-5


def test_unknown_keys_name_the_path_and_suggest(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("training:\n  batch_sise: 8\naugmentaton:\n  enabled: false\n")
    with pytest.raises(UserError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:2: training.batch_sise: unknown key; did you mean `training.batch_size`?" in message
    assert f"{path}:3: augmentaton: unknown key; did you mean `augmentation`?" in message


def test_bad_values_and_combinations_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: {input_size: 100}\n")
    with pytest.raises(UserError, match=r"bad.yaml:1: model.input_size: must be a multiple of 32"):
        load_config(path)
    path.write_text("training: {cache_pool4: true}\n")
    with pytest.raises(UserError, match="cache_pool4: true needs augmentation.enabled: false"):
        load_config(path)
    with pytest.raises(UserError, match="did you mean `mpain`"):
        load_config("mpian")
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
