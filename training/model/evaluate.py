"""`painwatch model evaluate`: an exported model (model.onnx, ONNX Runtime) on a dataset.csv it never saw.

Metrics with pain as the positive class (as in training), and, for datasets with cue masks (the synthetic
cohort), the share of the pain-class Grad-CAM mass (the model's own `gradcam` output) inside the drawn cue
masks, overall and per cue group, against the masks' area share. `make demo-model` runs it on a cohort drawn
with a seed the demo model never saw and stores the result beside the model's training report.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnxruntime as ort

from service.errors import UserError
from service.files import atomic_open
from service.synthetic.scene import cue_masks_from_labels
from service.vision.heatmap import upsample_to_crop
from service.vision.images import read_rgb
from training.model.check_crops import CropRow, load_crops
from training.train.datasets import load_datasets
from training.train.explain import read_labels
from training.train.metrics import binary_metrics, confusion
from training.train.report import clean

logger = logging.getLogger(__name__)

FORMAT: Final = "painwatch-model-evaluation"
BATCH: Final = 16
PAIN: Final = 1


def evaluate_model(model_dir: Path, dataset_csv: Path, input_size: int = 224) -> dict[str, Any]:
    """Run the exported model on every crop of `dataset_csv`; metrics and Grad-CAM cue shares as a dict."""
    model_file = Path(model_dir) / "model.onnx"
    if not model_file.is_file():
        raise UserError(f"{model_dir}: no model.onnx (expected an exported model folder)")
    started = time.perf_counter()
    samples, infos = load_datasets([Path(dataset_csv)])
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    pain_prob = np.zeros(len(samples))
    union: list[tuple[float, float]] = []
    per_cue: dict[str, list[tuple[float, float]]] = {}
    for start in range(0, len(samples), BATCH):
        batch = samples[start : start + BATCH]
        images = load_crops([CropRow(s.path, s.label, s.infant_id) for s in batch], input_size)
        probs, maps = session.run(["probs", "gradcam"], {session.get_inputs()[0].name: images})
        pain_prob[start : start + len(batch)] = np.asarray(probs)[:, PAIN]
        for sample, cam in zip(batch, np.asarray(maps)[:, PAIN], strict=True):
            if sample.label != PAIN or sample.mask_path is None:
                continue
            mask = read_rgb(sample.mask_path)[..., 0] > 127
            heat = upsample_to_crop(np.clip(cam, 0.0, 1.0), mask.shape)
            total = float(heat.sum())
            if total <= 0:
                continue
            union.append((float(heat[mask].sum()) / total, float(mask.mean())))
            if sample.cue_mask_path is not None:
                for cue, cue_mask in cue_masks_from_labels(read_labels(sample.cue_mask_path)).items():
                    if cue_mask.shape == heat.shape and cue_mask.any():
                        share = (float(heat[cue_mask].sum()) / total, float(cue_mask.mean()))
                        per_cue.setdefault(cue, []).append(share)
    labels = np.array([s.label for s in samples])
    result = {
        "format": FORMAT,
        "model": str(model_dir),
        "dataset": infos[0].as_dict(),
        "metrics": binary_metrics(labels, pain_prob),
        "confusion": confusion(labels, pain_prob >= 0.5),
        "gradcam_mask_share": _shares(union, per_cue),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return clean(result)


def _summary(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    values = np.array(pairs)
    inside, area = float(values[:, 0].mean()), float(values[:, 1].mean())
    return {
        "pain_crops": len(pairs),
        "mean_share_inside_masks": inside,
        "mean_mask_area_share": area,
        "ratio": inside / area if area > 0 else None,
    }


def _shares(union: list[tuple[float, float]], per_cue: dict[str, list[tuple[float, float]]]) -> dict[str, Any] | None:
    if not union:
        return None
    return {**_summary(union), "per_cue": {cue: _summary(per_cue[cue]) for cue in sorted(per_cue)}}


def write_evaluation(path: Path, result: dict[str, Any]) -> None:
    with atomic_open(Path(path), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")


def summary_lines(result: dict[str, Any]) -> list[str]:
    m = result["metrics"]
    d = result["dataset"]
    lines = [
        f"{d['name']}: {d['frames']} crops, {d['infants']} infants ({d['class_balance']})",
        "  " + " ".join(f"{k} {v:.3f}" for k, v in m.items() if v is not None),
    ]
    share = result.get("gradcam_mask_share")
    if share:
        lines.append(
            f"  Grad-CAM in cue masks: {share['mean_share_inside_masks']:.1%} of the mass, masks cover "
            f"{share['mean_mask_area_share']:.1%} (ratio {share['ratio']:.2f}x)"
        )
        for cue, item in share["per_cue"].items():
            lines.append(f"    {cue}: {item['mean_share_inside_masks']:.1%} vs {item['mean_mask_area_share']:.1%} "
                         f"(ratio {item['ratio']:.2f}x, {item['pain_crops']} crops)")  # fmt: skip
    return lines
