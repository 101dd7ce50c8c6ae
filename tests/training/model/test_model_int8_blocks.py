"""Mixed precision (`--int8-blocks`): blocks 1-4 INT8 (conv1_1 float32, GPTQ weights), block 5 + head float32,
limits measured and enforced.

A small (64 px) random-weight export keeps these fast; the node names are the thesis model's at any size."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from service.errors import UserError
from service.model_card import load_card
from training.model import int8_blocks
from training.model.checkpoint import save_checkpoint
from training.model.export import ExportOptions, convert_to_onnx, export_checkpoint
from training.model.int8_blocks import (
    MODE,
    Int8BlocksLimits,
    deviation,
    failed_limits,
    fp32_consumers_of_dequantized,
    quantize_blocks,
    quantize_int8_blocks,
)

from .test_model_export import write_crop_dataset

LOOSE = Int8BlocksLimits(probs=1.0, f1_drop=1.0, maps_mean=1.0, argmax_agreement=0.0)
LAYER = re.compile(r"/(conv\d_\d|pool\d|gap|fc\d|logits|probs)_\d+/")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_crop_dataset(tmp_path_factory.mktemp("int8-blocks-ds"))


@pytest.fixture(scope="module")
def fp32(small_model) -> bytes:
    return convert_to_onnx(small_model).SerializeToString()


@pytest.fixture(scope="module")
def mixed(fp32, real_crops_64, dataset) -> tuple[onnx.ModelProto, dict]:
    data, report = quantize_int8_blocks(fp32, dataset, real_crops_64, 64, LOOSE)
    return onnx.load_from_string(data), report


def _layer(name: str) -> str | None:
    match = LAYER.search(name)
    return match.group(1) if match else None


def test_blocks_1_to_4_are_quantized_and_block_5_and_head_stay_fp32(mixed) -> None:
    model, report = mixed
    nodes = list(model.graph.node)
    producers = {out: node for node in nodes for out in node.output}
    initializers = {init.name: init for init in model.graph.initializer}
    convs = {_layer(n.name): n for n in nodes if n.op_type == "Conv"}
    assert len(convs) == 13
    for layer, conv in convs.items():
        weight = conv.input[1]
        if layer is not None and layer[4] in "1234" and layer != "conv1_1":  # weight and input through Q/DQ
            assert producers[weight].op_type == "DequantizeLinear", layer
            assert producers[conv.input[0]].op_type == "DequantizeLinear", layer
        else:  # conv1_1 (reads the image) and conv5_1..conv5_3: float32 weight straight from an initializer
            assert weight in initializers and initializers[weight].data_type == onnx.TensorProto.FLOAT, layer
            assert producers.get(conv.input[0]) is None or producers[conv.input[0]].op_type != "DequantizeLinear"
    qdq = [n for n in nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    qdq_layers = {_layer(n.name) for n in qdq}
    # conv1_1's output is conv1_2's input, so its activation is quantized (its weights are not: checked above)
    assert qdq_layers <= {f"conv{b}_{i}" for b in "1234" for i in "123"} | {"pool1", "pool2", "pool3"}
    assert not any(re.search(r"conv5_|pool[45]_|gap_|fc[12]_|logits_|probs_|gemm|MatMul", n.name) for n in qdq), (
        "a Q/DQ node sits in block 5, the head or the Grad-CAM graph"
    )
    assert sum(n.op_type == "DequantizeLinear" and n.input[0] in initializers for n in qdq) == 9  # weights
    for node in nodes:  # the head and the in-graph Grad-CAM read float32 kernels only
        if node.op_type in ("Gemm", "MatMul"):
            assert all(producers.get(i) is None or producers[i].op_type != "DequantizeLinear" for i in node.input)
    assert fp32_consumers_of_dequantized(model) == []
    per_block = {"1": 2, "2": 2, "3": 3, "4": 3}
    expected = sorted(f"conv{b}_{i}" for b, n in per_block.items() for i in "123"[:n])
    assert report["quantized_convolutions"] == [c for c in expected if c != "conv1_1"]
    assert "conv1_1" in report["float32_layers"]


def test_gptq_replaces_the_nearest_integers_and_lowers_every_layers_output_error(fp32, mixed, dataset) -> None:
    model, report = mixed
    layers = report["gptq"]
    assert [entry["layer"] for entry in layers] == report["quantized_convolutions"]
    for entry in layers:  # measured on the calibration crops' own layer inputs
        assert entry["output_error_gptq"] < entry["output_error_nearest"], entry
    # the integers differ from the quantizer's nearest rounding; the scales are the quantizer's
    split_images = int8_blocks.calibration_split(dataset, 64, "--int8-blocks", "INT8-blocks").calib_images
    nearest = onnx.load_from_string(quantize_blocks(fp32, split_images)[0])
    ints = {
        i.name: onnx.numpy_helper.to_array(i)
        for i in model.graph.initializer
        if len(i.dims) == 4 and i.data_type == onnx.TensorProto.INT8
    }
    plain = {
        i.name: onnx.numpy_helper.to_array(i)
        for i in nearest.graph.initializer
        if len(i.dims) == 4 and i.data_type == onnx.TensorProto.INT8
    }
    assert ints.keys() == plain.keys() and len(ints) == 9
    assert any(not np.array_equal(ints[name], plain[name]) for name in ints)
    assert all(np.abs(values.astype(int)).max() <= 127 for values in ints.values())
    floats = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("_scale")}
    assert all(
        np.array_equal(floats[i.name], onnx.numpy_helper.to_array(i))
        for i in nearest.graph.initializer if i.name.endswith("_scale")
    )  # fmt: skip


def test_limits_are_measured_and_reported(mixed) -> None:
    _, report = mixed
    measured = report["measured"]
    assert report["mode"] == MODE and report["limits"] == vars(LOOSE)
    assert measured["crops"] == report["held_out"]["crops"] + report["check_crops"]
    assert measured["labelled_crops"] == report["held_out"]["crops"] > 0
    assert 0 <= measured["probs_max_abs_vs_fp32"] < 1 and 0 <= measured["maps_mean_abs_vs_fp32"] < 1
    assert 0 <= measured["argmax_cell_exact_agreement"] <= measured["argmax_cell_agreement"] <= 1
    assert measured["f1_drop"] == pytest.approx(measured["f1_fp32"] - measured["f1_candidate"])
    assert measured["failed_limits"] == []
    assert report["calibration"]["crops"] > 0 and report["calibration"]["infants"] >= 1


def test_each_limit_names_itself_when_missed() -> None:
    report = {"probs_max_abs_vs_fp32": 0.03, "maps_mean_abs_vs_fp32": 0.06, "argmax_cell_agreement": 0.9,
              "f1_fp32": 0.8, "f1_candidate": 0.7, "f1_drop": 0.1}  # fmt: skip
    failures = failed_limits(report, Int8BlocksLimits())
    assert len(failures) == 4
    assert [f.split()[0] for f in failures] == ["probabilities", "F1", "Grad-CAM", "Grad-CAM"]
    assert "limit 0.05" in failures[2] and "limit 95%" in failures[3]
    report.update(probs_max_abs_vs_fp32=float("nan"), f1_drop=None)  # NaN fails; F1 without labels is not judged
    names = [f.split()[0] for f in failed_limits(report, Int8BlocksLimits())]
    assert names == ["probabilities", "Grad-CAM", "Grad-CAM"]
    ok = {**report, "probs_max_abs_vs_fp32": 0.02, "maps_mean_abs_vs_fp32": 0.05, "argmax_cell_agreement": 0.95}
    assert failed_limits(ok, Int8BlocksLimits()) == []


class _Fixed:
    """A stand-in session returning fixed outputs (the maps are what this test is about)."""

    def __init__(self, maps: np.ndarray) -> None:
        self.maps = maps

    def run(self, _names, feeds):
        n = len(feeds["image"])
        return np.full((n, 2), 0.5, np.float32), self.maps[:n]


def test_the_hottest_cell_counts_as_kept_only_when_it_was_within_the_tie_of_the_fp32_peak() -> None:
    ref = np.zeros((3, 2, 4, 4), np.float32)
    ref[:, 1, 0, 0] = 1.0
    ref[:, 1, 3, 3] = 0.97  # a near-tie with the peak
    ref[:, 1, 2, 0] = 0.80  # a cell well below the peak
    new = ref.copy()
    new[1, 1, 3, 3] = 1.01  # crop 1: the near-tie swaps in
    new[2, 1, 2, 0] = 1.01  # crop 2: a lesser cell becomes the hottest
    images = np.zeros((3, 8, 8, 3), np.float32)
    report = deviation(_Fixed(ref), _Fixed(new), images, None, Int8BlocksLimits())
    assert report["argmax_cell_exact_agreement"] == pytest.approx(1 / 3)
    assert report["argmax_cell_agreement"] == pytest.approx(2 / 3)  # only crop 2 moved its hot spot
    assert report["argmax_flips_fp32_margin_max"] == pytest.approx(0.2)
    exact = deviation(_Fixed(ref), _Fixed(new), images, None, Int8BlocksLimits(argmax_tie=0.0))
    assert exact["argmax_cell_agreement"] == pytest.approx(1 / 3)
    assert "within 0 of the float32 peak" in exact["failed_limits"][-1]


def test_quantizer_refuses_beyond_limits(fp32, real_crops_64, dataset) -> None:
    strict = Int8BlocksLimits(probs=0.0, f1_drop=1.0, maps_mean=0.0, argmax_agreement=0.0)
    with pytest.raises(UserError, match="nothing was written") as err:
        quantize_int8_blocks(fp32, dataset, real_crops_64, 64, strict)
    assert "probabilities moved" in str(err.value) and "Grad-CAM maps moved" in str(err.value)
    with pytest.raises(UserError, match="needs --calibration"):
        quantize_int8_blocks(fp32, None, real_crops_64, 64)


@pytest.mark.slow  # about 50 s on a busy 2-core day: `make test-slow`
def test_export_writes_the_quantization_section_or_nothing(tmp_path, small_model, dataset, monkeypatch) -> None:
    save_checkpoint(small_model, tmp_path / "ck", {"demo": True})
    options = {"version": "1", "int8_blocks": True, "calibration": dataset, "contract_size": None,
               "check_dataset": dataset}  # fmt: skip
    monkeypatch.setattr(int8_blocks, "Int8BlocksLimits", lambda: LOOSE)
    out = tmp_path / "models" / "m" / "1"
    export_checkpoint(tmp_path / "ck", out, ExportOptions(name="m", **options))
    card = load_card(out)
    assert card.quantization is not None and card.quantization["mode"] == MODE
    assert card.quantization["measured"]["failed_limits"] == [] and card.quantization["quantized_nodes"] > 10
    q = card.quantization  # F1 on the held-out crops and on the labelled check crops
    assert q["measured"]["labelled_crops"] == q["f1_crops"] == q["held_out"]["crops"] + q["check_crops"]
    assert q["check_crops"] == 8 and q["held_out"]["crops"] > 0
    stored = onnx.load(str(out / "model.onnx"))
    assert sum(n.op_type == "QuantizeLinear" for n in stored.graph.node) > 0
    monkeypatch.setattr(int8_blocks, "Int8BlocksLimits", lambda: Int8BlocksLimits(maps_mean=0.0))
    refused = tmp_path / "models" / "m" / "2"
    with pytest.raises(UserError, match="Grad-CAM maps moved by .* on average"):
        export_checkpoint(tmp_path / "ck", refused, ExportOptions(name="m", **{**options, "version": "2"}))
    assert not refused.exists()


def test_cli_int8_blocks_needs_calibration_and_excludes_int8(tmp_path) -> None:
    from service.main import _app

    runner = CliRunner()
    alone = runner.invoke(_app, ["export", str(tmp_path), "-o", str(tmp_path / "o"), "--int8-blocks"])
    assert alone.exit_code != 0 and "--int8-blocks needs --calibration" in str(alone.exception)
    both = runner.invoke(
        _app,
        ["export", str(tmp_path), "-o", str(tmp_path / "o"), "--int8-blocks", "--int8", "--calibration", "d"],
    )
    assert both.exit_code != 0 and "--int8 cannot be combined with --int8-blocks" in str(both.exception)


def test_float16_storage_halves_the_float32_part_and_is_measured_as_shipped(fp32, mixed, real_crops_64, dataset):
    data, report = quantize_int8_blocks(fp32, dataset, real_crops_64, 64, LOOSE, float16_storage=True)
    model = onnx.load_from_string(data)
    kinds = {i.name: i.data_type for i in model.graph.initializer}
    assert report["float16_stored_tensors"] > 0 and mixed[1]["float16_stored_tensors"] == 0
    assert sum(t == onnx.TensorProto.FLOAT16 for t in kinds.values()) == report["float16_stored_tensors"]
    assert sum(t == onnx.TensorProto.INT8 and "_quantized" in n for n, t in kinds.items()) == 9  # INT8 weights kept
    assert len(data) < 0.75 * len(mixed[0].SerializeToString())
    assert fp32_consumers_of_dequantized(model) == []
    assert report["measured"]["failed_limits"] == [] and report["measured"]["crops"] == mixed[1]["measured"]["crops"]


def test_probabilities_of_the_mixed_model_are_a_distribution(mixed, real_crops_64) -> None:
    import onnxruntime as ort

    model, _ = mixed
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probs, maps = session.run(["probs", "gradcam"], {"image": real_crops_64.astype(np.float32)})
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and maps.min() >= 0.0 and maps.max() <= 1.0
