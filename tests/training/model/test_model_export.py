"""Export round trip at 224 (the contract) and the refusal paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from service.errors import UserError
from service.model_card import METADATA_KEY, load_card
from training.model.architecture import build_model, count_params
from training.model.check_crops import astronaut_crops
from training.model.checkpoint import save_checkpoint
from training.model.export import ExportOptions, ParityError, Tolerances, export_checkpoint
from training.model.gradcam import gradcam_reference

from .conftest import tweak_head_biases

INFO = {
    "demo": True,
    "datasets": [{"name": "synthetic", "infants": 6, "frames": 120, "class_balance": {"nonpain": 70, "pain": 50}}],
    "cv_metrics": {"accuracy": {"mean": 0.9, "std": 0.05}},
    "hyperparameters": {"learning_rate": 5e-6, "batch_size": 32},
    "backbone_weights": None,
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = build_model(seed=11)
    tweak_head_biases(model)
    save_checkpoint(model, root / "ck", INFO)
    out = root / "exported_models" / "demo-test" / "3"
    result = export_checkpoint(root / "ck", out, ExportOptions(name="demo-test", version="3", command="painwatch x"))
    return model, result, out


def test_export_writes_contract_graph(exported) -> None:
    _, _, out = exported
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model.sha256", "model_card.json", "reference.npz"]
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    assert image.name == "image" and image.shape[1:] == [224, 224, 3] and image.type == "tensor(float)"
    shapes = {o.name: o.shape[1:] for o in session.get_outputs()}
    assert shapes == {"probs": [2], "gradcam": [2, 14, 14]}


def test_onnx_matches_keras_and_gradient_tape(exported) -> None:
    model, result, out = exported
    images = astronaut_crops(224)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    probs, maps = session.run(["probs", "gradcam"], {"image": images})
    assert np.abs(probs - model.predict(images, verbose=0)).max() <= 1e-4
    assert np.abs(maps - gradcam_reference(model, images)).max() <= 1e-3
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert result.parity.probs_max_abs <= 1e-4 and result.parity.maps_max_abs <= 1e-3


def test_no_duplicated_weights(exported) -> None:
    model, result, out = exported
    total, _ = count_params(model)
    size = (out / "model.onnx").stat().st_size
    assert abs(size - 4 * total) / (4 * total) < 0.02, f"{size / 1e6:.1f} MB for {total:,} parameters"
    assert result.onnx_bytes == size


def test_model_card_beside_and_inside(exported) -> None:
    _, _, out = exported
    card = load_card(out)
    inside = {p.key: p.value for p in onnx.load(str(out / "model.onnx"), load_external_data=False).metadata_props}
    assert json.loads(inside[METADATA_KEY]) == json.loads((out / "model_card.json").read_text())
    assert card.name == "demo-test" and card.version == "3" and card.demo is True
    assert card.class_names == ["nonpain", "pain"] and card.positive_class == 1
    assert card.intended_use == "demonstration only, not for clinical use"
    assert card.datasets[0].class_balance == {"nonpain": 70, "pain": 50}
    assert card.cv_metrics == INFO["cv_metrics"] and card.hyperparameters["batch_size"] == 32
    assert card.crop["size"] == 224 and card.preprocessing["mean_bgr"] == [93.5940, 104.7624, 129.1863]
    assert card.backbone_weights is None and any("randomly initialised" in w for w in card.warnings)
    assert card.command == "painwatch x" and card.architecture["trainable_parameters"] == 10_230_274
    assert card.export_checks["parity"]["probs_max_abs"] <= 1e-4


def test_models_list_and_show(exported) -> None:
    from service.main import _app

    _, _, out = exported
    root = out.parent.parent
    runner = CliRunner()
    listed = runner.invoke(_app, ["models", "list", "--root", str(root)])
    assert listed.exit_code == 0 and "demo-test/3 [demo]" in listed.output
    shown = runner.invoke(_app, ["models", "show", "demo-test/3", "--root", str(root)])
    assert shown.exit_code == 0 and json.loads(shown.output)["version"] == "3"


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small") / "ck"
    save_checkpoint(build_model(input_size=64, seed=5), folder, {"demo": True})
    return folder


def test_failed_parity_writes_nothing(tmp_path, small_checkpoint) -> None:
    out = tmp_path / "models" / "m" / "1"
    options = ExportOptions(name="m", version="1", tolerances=Tolerances(probs=0.0, maps=0.0), contract_size=None)
    with pytest.raises(ParityError, match="missed by") as err:
        export_checkpoint(small_checkpoint, out, options)
    assert "nothing was written" in str(err.value)
    assert not out.exists() and not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_refuses_non_contract_size_and_existing_target(tmp_path, small_checkpoint) -> None:
    with pytest.raises(UserError, match="224x224"):
        export_checkpoint(small_checkpoint, tmp_path / "a" / "1", ExportOptions(name="a", version="1"))
    (tmp_path / "b" / "1").mkdir(parents=True)
    with pytest.raises(UserError, match="already exists"):
        export_checkpoint(small_checkpoint, tmp_path / "b" / "1", ExportOptions(name="b", version="1"))


def write_crop_dataset(folder: Path, n: int = 12) -> Path:
    """Real crops (the astronaut at shifted boxes, some mirrored), 4 infants, both labels per infant."""
    import csv

    from skimage import data

    from service.vision.crop import CropSpec, crop_face
    from service.vision.detectors import FaceBox
    from service.vision.images import write_rgb

    folder.mkdir(parents=True, exist_ok=True)
    photo = data.astronaut()
    rows = []
    for i in range(n):
        crop, _ = crop_face(photo, FaceBox(167 + 3 * (i % 6), 72 + 2 * (i % 5), 95 + i, 95 + i, 1.0), CropSpec(224))
        if i % 3 == 0:
            crop = np.ascontiguousarray(crop[:, ::-1])
        write_rgb(folder / f"c{i}.png", crop)
        rows.append({"crop_path": f"c{i}.png", "infant_id": f"inf{i % 4}", "label": ["nonpain", "pain"][(i // 4) % 2]})
    with open(folder / "dataset.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["crop_path", "infant_id", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "dataset.csv"


def test_split_by_infant_keeps_infants_apart(tmp_path) -> None:
    from training.model.check_crops import read_dataset
    from training.model.quantize import split_by_infant

    rows = read_dataset(write_crop_dataset(tmp_path / "ds", n=8))
    calib, held = split_by_infant(rows)
    assert calib and held and len(calib) + len(held) == 8
    assert not {r.infant_id for r in calib} & {r.infant_id for r in held}


@pytest.mark.slow
def test_int8_reports_and_refuses(tmp_path, exported) -> None:
    from training.model.quantize import quantize_int8

    _, _, out = exported
    dataset = write_crop_dataset(tmp_path / "ds")
    fp32 = (out / "model.onnx").read_bytes()
    int8, report = quantize_int8(fp32, dataset, 224, max_f1_drop=1.0)
    assert len(int8) < len(fp32) / 3
    assert report["held_out"]["crops"] > 0 and report["speedup"] > 0
    assert report["f1_change"] == pytest.approx(report["int8"]["f1"] - report["fp32"]["f1"])
    session = ort.InferenceSession(int8, providers=["CPUExecutionProvider"])
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load_from_string(int8).graph.node)
    assert session.run(["probs"], {"image": astronaut_crops(224)})[0].shape == (2, 2)
    with pytest.raises(UserError, match="exceeds --max-f1-drop"):
        quantize_int8(fp32, dataset, 224, max_f1_drop=-1.0)
