"""Static INT8 (QDQ) quantization with ONNX Runtime's quantizer, accepted only if F1 holds up.

The calibration dataset is split by infant: one part calibrates the activation ranges, the held-out part
measures accuracy and F1 (pain = positive) of fp32 and INT8 and the speed ratio, all in this one run.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from sklearn.metrics import accuracy_score, f1_score

from service.errors import UserError
from training.model.check_crops import CropRow, balanced_sample, load_crops, read_dataset

logger = logging.getLogger(__name__)

MAX_CALIBRATION: Final = 32
MAX_HELD_OUT: Final = 64
HELD_OUT_SHARE: Final = 0.4


class CropReader(CalibrationDataReader):
    """Feeds calibration crops one at a time as {"image": [1, S, S, 3]}."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self._iter: Iterator[dict[str, np.ndarray]] = iter([])
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter({"image": image[None]} for image in self.images)


def split_by_infant(rows: list[CropRow], seed: int = 0) -> tuple[list[CropRow], list[CropRow]]:
    """(calibration, held-out) with no infant in both; one infant only -> split its crops instead."""
    infants = sorted({r.infant_id for r in rows})
    rng = np.random.default_rng(seed)
    if len(infants) < 2:
        logger.warning("calibration data has one infant; held-out crops come from the same infant")
        order = rng.permutation(len(rows))
        cut = max(1, int(len(rows) * (1 - HELD_OUT_SHARE)))
        return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]
    shuffled = list(rng.permutation(infants))
    n_held = min(len(infants) - 1, max(1, round(len(infants) * HELD_OUT_SHARE)))
    held = set(shuffled[:n_held])
    return [r for r in rows if r.infant_id not in held], [r for r in rows if r.infant_id in held]


@dataclass(frozen=True)
class CalibrationSplit:
    """A quantization's --calibration dataset split by infant: one part calibrates, the held-out part measures."""

    dataset: Path
    calib_rows: list[CropRow]
    held_rows: list[CropRow]
    calib_images: np.ndarray
    held_images: np.ndarray

    @property
    def held_labels(self) -> np.ndarray:
        return np.array([r.label for r in self.held_rows])

    def report(self) -> dict[str, Any]:
        """The model card's `calibration` and `held_out` entries."""
        return {
            "calibration": {"dataset": str(self.dataset), "crops": len(self.calib_rows),
                            "infants": _infants(self.calib_rows)},
            "held_out": {"crops": len(self.held_rows), "infants": _infants(self.held_rows)},
        }  # fmt: skip


def calibration_split(calibration: Path | None, input_size: int, flag: str, what: str) -> CalibrationSplit:
    """Split the dataset so no infant is in both parts, and load both parts' crops; `flag` and `what` name the
    export option in the errors."""
    if calibration is None:
        raise UserError(f"{flag} needs --calibration DATASET (a dataset.csv of face crops)")
    rows = read_dataset(calibration)
    calib_rows, held_rows = split_by_infant(rows)
    if not held_rows:
        raise UserError(f"{calibration}: too few crops to hold any out for the {what} accuracy check")
    calib_rows = balanced_sample(calib_rows, MAX_CALIBRATION)
    held_rows = balanced_sample(held_rows, MAX_HELD_OUT)
    return CalibrationSplit(
        calibration, calib_rows, held_rows, load_crops(calib_rows, input_size), load_crops(held_rows, input_size)
    )


def quantize_int8(
    fp32_onnx: bytes, calibration: Path | None, input_size: int, max_f1_drop: float
) -> tuple[bytes, dict[str, Any]]:
    """(INT8 model bytes, report); raises UserError when F1 drops by more than `max_f1_drop`."""
    split = calibration_split(calibration, input_size, "--int8", "INT8")
    calib_images, held_images, labels = split.calib_images, split.held_images, split.held_labels
    with tempfile.TemporaryDirectory(prefix="painwatch-int8-") as tmp:
        fp32_path, int8_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        fp32_path.write_bytes(fp32_onnx)
        started = time.perf_counter()
        quantize_static(
            fp32_path,
            int8_path,
            CropReader(calib_images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        logger.info("quantized in %.0f s on %d calibration crops", time.perf_counter() - started, len(calib_images))
        int8_bytes = int8_path.read_bytes()
    report = compare(fp32_onnx, int8_bytes, held_images, labels)
    report.update(
        method="static QDQ INT8 (onnxruntime quantize_static, MinMax, per-channel weights)",
        **split.report(),
        max_f1_drop=max_f1_drop,
    )
    drop = report["fp32"]["f1"] - report["int8"]["f1"]
    if drop > max_f1_drop:
        raise UserError(
            f"INT8 F1 {report['int8']['f1']:.3f} vs fp32 {report['fp32']['f1']:.3f} on {len(split.held_rows)} held-out "
            f"crops: drop {drop:.3f} exceeds --max-f1-drop {max_f1_drop:g}; nothing was written"
        )
    return int8_bytes, report


def _infants(rows: list[CropRow]) -> int:
    return len({r.infant_id for r in rows})


def compare(fp32_onnx: bytes, int8_onnx: bytes, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy/F1 of both models, mean Grad-CAM change, and fp32/INT8 time ratio, measured alternately."""
    sessions = {
        kind: ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        for kind, data in (("fp32", fp32_onnx), ("int8", int8_onnx))
    }
    outputs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"fp32": [], "int8": []}
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for start in range(0, len(images), 8):
        batch = images[start : start + 8]
        for kind, session in sessions.items():  # alternate so machine load hits both alike
            began = time.perf_counter()
            probs, maps = session.run(["probs", "gradcam"], {"image": batch})
            times[kind].append(time.perf_counter() - began)
            outputs[kind].append((probs, maps))
    result: dict[str, Any] = {}
    for kind in ("fp32", "int8"):
        predicted = np.concatenate([p for p, _ in outputs[kind]]).argmax(axis=1)
        result[kind] = {
            "accuracy": float(accuracy_score(labels, predicted)),
            "f1": float(f1_score(labels, predicted, pos_label=1, zero_division=0)),
            "seconds": float(np.sum(times[kind])),
        }
    maps = {kind: np.concatenate([m for _, m in outputs[kind]]) for kind in outputs}
    result["accuracy_change"] = result["int8"]["accuracy"] - result["fp32"]["accuracy"]
    result["f1_change"] = result["int8"]["f1"] - result["fp32"]["f1"]
    result["speedup"] = result["fp32"]["seconds"] / max(result["int8"]["seconds"], 1e-9)
    result["gradcam_mean_abs_change"] = float(np.mean(np.abs(maps["int8"] - maps["fp32"])))
    return result
