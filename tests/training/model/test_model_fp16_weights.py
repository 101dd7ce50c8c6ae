"""Float16 weight storage: half the file, float32 compute, deviations measured against the fp32 graph."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from service.errors import UserError
from service.model_card import load_card
from training.model.checkpoint import save_checkpoint
from training.model.export import ExportOptions, convert_to_onnx, export_checkpoint
from training.model.fp16_weights import Fp16Limits, fp16_deviation, to_fp16_weights


def test_fp16_weights_halve_the_file_and_stay_close(small_model, real_crops_64) -> None:
    proto = convert_to_onnx(small_model)
    halved, count = to_fp16_weights(proto)
    assert count >= 16  # every conv and dense kernel
    full, half = proto.SerializeToString(), halved.SerializeToString()
    assert 0.45 < len(half) / len(full) < 0.55
    report = fp16_deviation(full, half, real_crops_64, Fp16Limits())
    assert 0 < report["probs_max_abs_vs_fp32"] <= 2e-3  # rounded weights: not identical, but close
    assert report["maps_max_abs_vs_fp32"] <= 2e-2
    session = ort.InferenceSession(half, providers=["CPUExecutionProvider"])
    probs, maps = session.run(["probs", "gradcam"], {"image": real_crops_64.astype(np.float32)})
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert maps.min() >= 0.0 and maps.max() <= 1.0


def test_fp16_deviation_beyond_limits_is_refused(small_model, real_crops_64) -> None:
    proto = convert_to_onnx(small_model)
    halved, _ = to_fp16_weights(proto)
    with pytest.raises(UserError, match="nothing was written"):
        fp16_deviation(proto.SerializeToString(), halved.SerializeToString(), real_crops_64, Fp16Limits(0.0, 0.0))


def test_export_with_fp16_weights_records_it_in_the_card(tmp_path, small_model) -> None:
    save_checkpoint(small_model, tmp_path / "ck", {"demo": True})
    out = tmp_path / "exported_models" / "m" / "1"
    export_checkpoint(tmp_path / "ck", out, ExportOptions(name="m", version="1", fp16_weights=True, contract_size=None))
    card = load_card(out)
    assert card.quantization is not None and card.quantization["mode"] == "float16 weights, float32 compute"
    stored = onnx.load(str(out / "model.onnx"))
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in stored.graph.initializer)
