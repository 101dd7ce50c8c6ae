"""`painwatch model evaluate`: an exported model (ONNX Runtime) on a dataset it never saw, with per-cue shares."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from service.errors import UserError
from service.main import _app
from service.synthetic.scene import CUE_BITS
from service.vision.images import write_mask, write_rgb
from tests.support.ci import require_or_skip

DEMO_MODEL = Path(__file__).resolve().parents[3] / "exported_models" / "demo-synthetic" / "1"


def _dataset(folder: Path) -> Path:
    from skimage import data

    face = cv2.resize(data.astronaut()[30:230, 130:330], (224, 224), interpolation=cv2.INTER_AREA)
    rows = []
    for k in range(4):
        image = np.ascontiguousarray(face if k % 2 else face[:, ::-1])
        labels = np.zeros((224, 224), np.uint8)
        if k < 2:  # pain: a dark "mouth" (open_mouth) and a "brow" line (brow_bulge)
            cv2.ellipse(labels, (112, 170), (30, 18), 0, 0, 360, CUE_BITS["open_mouth"], -1)
            cv2.line(labels, (70, 80), (150, 80), CUE_BITS["brow_bulge"], 6)
            image = image.copy()
            image[labels > 0] = (image[labels > 0] * 0.2).astype(np.uint8)
        write_rgb(folder / f"c{k}.jpg", image)
        write_mask(folder / f"c{k}_mask.png", (labels > 0).astype(np.uint8) * 255)
        write_mask(folder / f"c{k}_cues.png", labels)
        rows.append({
            "crop_path": f"c{k}.jpg", "infant_id": f"i{k}", "label": "pain" if k < 2 else "nonpain",
            "source": "synthetic", "mask_path": f"c{k}_mask.png", "cue_mask_path": f"c{k}_cues.png",
            "face_source": "astronaut",
        })  # fmt: skip
    with open(folder / "dataset.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder / "dataset.csv"


def test_evaluate_reports_metrics_and_per_cue_gradcam_shares(tmp_path: Path) -> None:
    if not (DEMO_MODEL / "model.onnx").is_file():
        require_or_skip("no demo model in exported_models/ (it is committed: is the checkout complete?)")
    csv_path, out = _dataset(tmp_path), tmp_path / "eval.json"
    result = CliRunner().invoke(_app, ["model", "evaluate", str(DEMO_MODEL), "-d", str(csv_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["format"] == "painwatch-model-evaluation" and report["dataset"]["frames"] == 4
    assert set(report["metrics"]) == {"accuracy", "precision", "recall", "specificity", "f1", "roc_auc"}
    assert sum(report["confusion"].values()) == 4
    share = report["gradcam_mask_share"]
    assert share["pain_crops"] == 2 and set(share["per_cue"]) == {"brow_bulge", "open_mouth"}
    for item in (share, *share["per_cue"].values()):
        assert 0 <= item["mean_share_inside_masks"] <= 1 and 0 < item["mean_mask_area_share"] < 0.1
        assert item["ratio"] == pytest.approx(item["mean_share_inside_masks"] / item["mean_mask_area_share"])
    mouth = share["per_cue"]["open_mouth"]["mean_mask_area_share"]
    assert mouth == pytest.approx(np.pi * 30 * 18 / 224**2, rel=0.1)  # the mouth's own pixels, not the union
    assert "Grad-CAM in cue masks" in result.output and "open_mouth" in result.output


def test_evaluate_needs_an_exported_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app, ["model", "evaluate", str(tmp_path), "-d", str(_dataset(tmp_path))])
    assert isinstance(result.exception, UserError) and "no model.onnx" in str(result.exception)
