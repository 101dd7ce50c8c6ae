"""The demo recipe's pieces: block-5 split points, standardised head input folded into fc1, grouping by face
photograph, per-cue Grad-CAM shares in the report, and the `demo` preset."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np
import pytest

from service.errors import UserError
from training.model.architecture import (
    EXPECTED_TRAINABLE_224,
    block5_head,
    build_model,
    count_params,
    feature_extractor,
    split_layer,
)
from training.train import standardize
from training.train.config import PRESETS, load_config
from training.train.datasets import face_groups, load_datasets
from training.train.report import _cue_lines, _mask_share

CONV = 2_359_808  # one 3x3x512x512 convolution of block 5


def test_split_layer_and_trainable_counts() -> None:
    assert split_layer("conv5_1") == "pool4"
    assert split_layer("conv5_2") == "conv5_1" and split_layer("conv5_3") == "conv5_2"
    with pytest.raises(ValueError, match="trainable_from"):
        split_layer("fc1")
    assert count_params(build_model(224, seed=0))[1] == EXPECTED_TRAINABLE_224
    keras.backend.clear_session()
    total, trainable = count_params(build_model(224, seed=0, trainable_from="conv5_3"))
    assert trainable == EXPECTED_TRAINABLE_224 - 2 * CONV and total == 17_865_538


def test_head_on_conv5_2_features_gives_the_full_models_output() -> None:
    model = build_model(64, seed=1, trainable_from="conv5_3")
    images = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    features = feature_extractor(model, "conv5_2").predict(images, verbose=0)
    assert features.shape == (3, 4, 4, 512)
    head = block5_head(model, "conv5_2")
    assert [layer.trainable for layer in head.layers if layer.weights] == [True] * 4  # conv5_3, fc1, fc2, logits
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_standardised_fit_folds_into_fc1_exactly() -> None:
    model = build_model(64, seed=2, trainable_from="conv5_3")
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (6, 64, 64, 3)).astype(np.float32)
    # Perturb fc1 so the fold is not a no-op, then compare the standardised model with the folded one.
    fc1 = model.get_layer("fc1")
    fc1.set_weights([w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in fc1.get_weights()])
    mean, std = standardize.gap_statistics(model, images)
    wrapped = standardize.with_standardized_gap(model, mean, std)
    assert standardize.NORMALIZATION in [layer.name for layer in wrapped.layers]
    gap = keras.Model(wrapped.inputs, wrapped.get_layer(standardize.NORMALIZATION).output).predict(images, verbose=0)
    np.testing.assert_allclose(gap.mean(axis=0), 0.0, atol=1e-3)
    expected = wrapped.predict(images, verbose=0)
    standardize.fold_into_fc1(model, mean, std)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=2e-5)
    assert [layer.name for layer in model.layers if layer.name == standardize.NORMALIZATION] == []


def test_constant_channels_get_a_floor_not_a_division_by_zero() -> None:
    model = build_model(64, seed=3)
    images = np.zeros((4, 64, 64, 3), np.float32)  # every crop the same: every std is 0
    mean, std = standardize.gap_statistics(model, images)
    assert np.all(std > 0) and np.all(np.isfinite(mean))


def test_infants_sharing_a_face_photograph_share_a_group() -> None:
    infants = ["a", "a", "b", "c", "d", "e"]
    sources = ["astro", "astro", "grace", "astro", "grace", ""]
    groups = face_groups(infants, sources)
    assert groups[0] == groups[1] == groups[3] == "a+1@astro"
    assert groups[2] == groups[4] == "b+1@grace"
    assert groups[5] == "e"
    assert face_groups(["x", "y"], ["", ""]) == ["x", "y"]  # no face sources: one group per infant
    # A chain: infant a on two photos joins both photos' infants into one group.
    assert len(set(face_groups(["a", "a", "b", "c"], ["p", "q", "p", "q"]))) == 1


def test_dataset_groups_by_face_source_column(tmp_path: Path) -> None:
    (tmp_path / "c.jpg").write_bytes(b"")
    rows = [
        {"crop_path": "c.jpg", "infant_id": f"i{k}", "label": ("pain", "nonpain")[k % 2], "face_source": f"p{k % 2}"}
        for k in range(4)
    ]
    with open(tmp_path / "dataset.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    samples, infos = load_datasets([tmp_path / "dataset.csv"])
    assert len({s.group for s in samples}) == 2 and infos[0].infants == 4
    assert samples[0].group == samples[2].group != samples[1].group


def _outcome(shares: list[tuple[float, float]], cues: dict[str, list[tuple[float, float]]]) -> Any:
    return SimpleNamespace(mask_shares=shares, cue_shares=cues)


def test_report_shows_the_share_per_cue_group() -> None:
    outcomes = [
        _outcome([(0.4, 0.1)], {"open_mouth": [(0.3, 0.05)], "brow_bulge": [(0.02, 0.04)]}),
        _outcome([(0.2, 0.1)], {"open_mouth": [(0.1, 0.05)]}),
    ]
    share = _mask_share(outcomes)
    assert share is not None and share["ratio"] == pytest.approx(3.0)
    assert share["per_cue"]["open_mouth"]["ratio"] == pytest.approx(4.0)
    assert share["per_cue"]["open_mouth"]["pain_test_crops"] == 2
    assert share["per_cue"]["brow_bulge"]["ratio"] == pytest.approx(0.5)
    lines = "\n".join(_cue_lines({"gradcam_mask_share": share}))
    assert "| open_mouth | 2 | 20.0% | 5.0% | 4.00x |" in lines
    assert "| all cues (union) | 2 | 30.0% | 10.0% | 3.00x |" in lines
    assert _cue_lines({"gradcam_mask_share": None}) == []


def test_demo_preset_is_not_a_thesis_preset() -> None:
    config = load_config("demo")
    assert "demo" not in PRESETS and config.description
    assert config.model.trainable_from == "conv5_3" and config.training.standardize_head_input
    assert config.training.cache_pool4 and not config.augmentation.enabled
    thesis = load_config("mpain")
    assert thesis.model.trainable_from == "conv5_1" and not thesis.training.standardize_head_input
    with pytest.raises(UserError, match="did you mean `demo`"):
        load_config("demoo")


def test_export_cli_passes_the_fp16_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from service.main import _app
    from training.model import export
    from training.model.fp16_weights import Fp16Limits

    seen: list[Any] = []

    def capture(checkpoint: Path, out: Path, options: export.ExportOptions) -> None:
        seen.append(options)
        raise UserError("captured")

    monkeypatch.setattr(export, "export_checkpoint", capture)
    base = ["export", str(tmp_path), "-o", str(tmp_path / "out"), "--fp16-weights"]
    CliRunner().invoke(_app, [*base, "--fp16-max-prob-change", "0.005", "--fp16-max-map-change", "0.1"])
    CliRunner().invoke(_app, base)
    assert seen[0].fp16_limits == Fp16Limits(probs=0.005, maps=0.1)
    assert seen[1].fp16_limits == Fp16Limits() == export.ExportOptions("n", "1").fp16_limits
