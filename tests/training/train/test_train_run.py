"""End to end on real photo crops: `painwatch train` -> grouped CV -> checkpoints, results.json, report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from service.errors import UserError
from service.main import _app
from training.train.config import load_config
from training.train.plan import plan_run


def test_train_cv_report_and_checkpoints(tiny_config, make_dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv_path, out = make_dataset(), tmp_path / "run"
    args = ["train", "--config", str(tiny_config()), "--dataset", str(csv_path), "-o", str(out)]
    result = CliRunner().invoke(_app, args)
    assert result.exit_code == 0, result.output
    assert f"{out}: mpain, 2 fold(s): accuracy" in result.output

    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "mpain" and results["demo"] is True
    assert results["split_check"]["leakage_check"] == "passed"
    assert results["cache_pool4"]["used"] is False
    assert results["backbone_weights"] is None and "random initialisation" in results["warnings"][0]
    assert results["datasets"][0] | {"csv_path": ""} == {
        "name": "cohort", "csv_path": "", "infants": 8, "frames": 32,
        "class_balance": {"nonpain": 16, "pain": 16}, "synthetic": True, "has_cue_masks": True,
    }  # fmt: skip
    folds = results["folds"]
    assert [f["fold"] for f in folds] == [1, 2]
    assert sum(f["test_frames"] for f in folds) == 32 and sum(f["test_infants"] for f in folds) == 8
    for f in folds:
        c = f["confusion"]
        assert sum(c.values()) == f["test_frames"]
        assert f["metrics"]["accuracy"] == pytest.approx((c["tp"] + c["tn"]) / f["test_frames"])
        assert f["train_infants"] + f["validation_infants"] + f["test_infants"] == 8
        assert f["epochs_run"] == 2 and 1 <= f["kept_epoch"] <= 2 and len(f["history"]["val_loss"]) == 2
    accuracies = [f["metrics"]["accuracy"] for f in folds]
    assert results["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert results["summary"]["accuracy"]["std"] == pytest.approx(np.std(accuracies))
    assert results["thesis_reference"]["accuracy"] == {"mean": 0.874, "std": 0.034}
    share = results["gradcam_mask_share"]
    assert 1 <= share["pain_test_crops"] <= 16 and 0 <= share["mean_share_inside_masks"] <= 1
    assert 0.03 < share["mean_mask_area_share"] < 0.2  # the drawn cues cover a few percent of a crop

    report = (out / "report.md").read_text()
    assert "| Metric | Fold 1 | Fold 2 | Mean ± std | Thesis (Table 5.1) |" in report
    assert "| Accuracy |" in report and "0.874 ± 0.034" in report and "Leakage check: **passed**" in report
    assert "pool4 cache: not used" in report and "of the pain-class map mass lies inside the drawn cue masks" in report
    html = (out / "report.html").read_text()
    assert "<table>" in html and "Recall (sensitivity)" in html
    for name in ("confusion_matrices", "roc_curves", "training_curves", "gradcam_grid"):
        png = out / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"figures/{name}.png" in report

    from training.model.checkpoint import load_checkpoint

    fold = load_checkpoint(out / "fold_1")
    assert fold.input_size == 64 and fold.info["fold"] == 1 and fold.info["demo"] is True
    assert fold.info["command"].startswith("painwatch train --config")
    assert fold.info["hyperparameters"]["optimizer"]["learning_rate"] == 5e-6
    final = load_checkpoint(out / "final")
    assert final.info["cv_metrics"]["accuracy"]["mean"] == pytest.approx(results["summary"]["accuracy"]["mean"])
    source = load_checkpoint(out / f"fold_{final.info['source_fold']}")
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(final.model.predict(x, verbose=0), source.model.predict(x, verbose=0), atol=1e-6)

    rerun = CliRunner().invoke(_app, args)  # a finished run is never silently overwritten
    assert rerun.exit_code != 0 and "already holds a finished run" in str(rerun.exception)


def test_folds_are_identical_across_runs(tiny_config, make_dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv_path = make_dataset(infants=10)
    config = load_config(tiny_config(folds=3))
    a, b = (plan_run(config, [csv_path], tmp_path / "run", None, "test") for _ in range(2))
    for x, y in zip(a.folds, b.folds, strict=True):
        assert (x.train == y.train).all() and (x.validation == y.validation).all() and (x.test == y.test).all()
    other = plan_run(config.model_copy(update={"seed": 8}), [csv_path], tmp_path / "run", None, "test")
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(a.folds, other.folds, strict=True))


@pytest.mark.slow  # about 50 s on a busy 2-core day: `make test-slow`
def test_two_tiny_runs_give_the_same_numbers(tiny_config, make_dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tensorflow.python.framework import config as tf_config

    from training.train.run import execute

    # The fast configuration: cached pool4 features, one 75/25 holdout split, 2 epochs.
    config = load_config(
        tiny_config(preset="videodol", extra="augmentation: {enabled: false}\n"),
        overrides={
            "training": {"cache_pool4": True, "max_epochs": 2},
            "evaluation": {"final_model": "retrain_all"},
            "report": {"gradcam_per_group": 1},
        },
    )
    csv_path = make_dataset()
    determinism_before = tf_config.is_op_determinism_enabled()
    runs = [execute(plan_run(config, [csv_path], tmp_path / f"run{i}", None, "test")) for i in range(2)]
    assert tf_config.is_op_determinism_enabled() == determinism_before  # the process-wide switch is restored
    first, second = (r["folds"][0] for r in runs)
    assert first["test_frames"] == second["test_frames"] == 8  # 2 of 8 infants
    assert first["history"] == second["history"] and first["metrics"] == second["metrics"]
    assert runs[0]["cache_pool4"]["used"] is True and runs[0]["final"]["final_model"] == "retrained on all data"
    assert "pool4 cache: used" in (tmp_path / "run0" / "report.md").read_text()

    # Training on cached features updated the full model that was saved: it reproduces the test probabilities.
    from training.model.checkpoint import load_checkpoint
    from training.train.data import load_images

    with open(tmp_path / "run0" / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and {r["fold"] for r in rows} == {"1"}
    fold_model = load_checkpoint(tmp_path / "run0" / "fold_1").model
    probs = fold_model.predict(load_images([Path(r["crop_path"]) for r in rows], 64), verbose=0)[:, 1]
    np.testing.assert_allclose(probs, [float(r["pain_prob"]) for r in rows], atol=1e-5)
    assert load_checkpoint(tmp_path / "run0" / "final").info["final_model"] == "retrained on all data"


def test_train_only_dataset_index_must_exist(make_dataset, tmp_path: Path) -> None:
    config = load_config("mpain_icope")
    with pytest.raises(UserError, match=r"train_only_datasets: \[1\] is out of range: 1 --dataset file"):
        plan_run(config, [make_dataset()], tmp_path / "run", None, "test")


def test_train_only_dataset_never_reaches_validation_or_test(make_dataset, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mpain, icope = make_dataset(name="mpain"), make_dataset(name="icope", infants=4, seed=1)
    plan = plan_run(load_config(tiny_config(preset="mpain_icope")), [mpain, icope], tmp_path / "run", None, "t")
    extra = {i for i, s in enumerate(plan.samples) if s.dataset == 1}
    assert len(extra) == 16 and [d.name for d in plan.datasets] == ["mpain", "icope"]
    for fold in plan.folds:
        assert extra <= set(fold.train)
        assert not extra & (set(fold.validation) | set(fold.test))
        assert len(fold.validation) > 0


DEMO_LIKE = """extends: mpain
seed: 7
description: tiny demo-like recipe
model: {input_size: 64, trainable_from: conv5_3, l1: 0.0, dropout: 0.0}
training:
  {batch_size: 8, max_epochs: 2, early_stopping: {patience: 2}, cache_pool4: true, unit_rms_features: true,
   standardize_head_input: true}
augmentation: {enabled: false}
evaluation: {folds: 2, final_model: retrain_all}
report: {gradcam_per_group: 2}
"""


def test_demo_recipe_trains_on_cached_conv5_2_and_exports_the_thesis_layout(make_dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from training.model.checkpoint import load_checkpoint

    csv_path, out, config = make_dataset(), tmp_path / "run", tmp_path / "demo_like.yaml"
    config.write_text(DEMO_LIKE, encoding="utf-8")
    args = ["train", "--config", str(config), "--dataset", str(csv_path), "-o", str(out)]
    result = CliRunner().invoke(_app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["recipe"] == "tiny demo-like recipe"
    assert results["cache_pool4"]["note"].startswith("conv5_3 onward + head trained on cached conv5_2 features")
    assert results["final"]["final_model"] == "retrained on all data"
    report = (out / "report.md").read_text()
    assert "Recipe: tiny demo-like recipe" in report and "## Grad-CAM in the cue masks, per cue group" not in report
    final = load_checkpoint(out / "final").model
    assert "gap_standardize" not in [layer.name for layer in final.layers]  # folded into fc1: the thesis layout
    # A saved fold model reproduces the fold's test predictions from images: the unit-RMS factor and the
    # standardisation are both inside its weights.
    from training.train.data import load_images

    with open(out / "predictions.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["fold"] == "1"]
    fold_model = load_checkpoint(out / "fold_1").model
    probs = fold_model.predict(load_images([Path(r["crop_path"]) for r in rows], 64), verbose=0)[:, 1]
    np.testing.assert_allclose(probs, [float(r["pain_prob"]) for r in rows], atol=1e-4)
