"""Mixed precision: VGG blocks 1-4 in static INT8 (QDQ), block 5 and the dense head in float32.

Blocks 1-4 (conv1_2..conv4_3 with their ReLUs and pool1..pool3) carry about 90% of the thesis model's
multiply-adds at 224 px; block 5 (conv5_1..conv5_3) and the head are what Grad-CAM reads (conv5_3's
activations and the dense kernels used in the forward-only gradient), so they stay float32 and the map is
computed exactly as in the float32 graph, from slightly perturbed conv5 inputs. conv1_1 (0.6% of the
multiply-adds) stays float32 too: quantizing the image itself (256 steps over the preprocessed pixel range)
was the largest single activation error. ONNX Runtime's quantizer is told which nodes to quantize by name
(every other node is passed as `nodes_to_exclude`); activations are calibrated (MinMax) on face crops and
weights are quantized per output channel, their integers then re-chosen by GPTQ on the same crops
(`training/model/gptq.py`): round-to-nearest weights were most of the error.

The export measures the result against the float32 graph on held-out crops and refuses a model outside
`Int8BlocksLimits`: probabilities, F1, mean Grad-CAM change and the Grad-CAM hottest cell.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from sklearn.metrics import f1_score

from service.errors import UserError
from training.model.fp16_weights import to_fp16_weights
from training.model.gptq import PatchGram, gptq_round, output_error, round_to_nearest
from training.model.quantize import CropReader, calibration_split

logger = logging.getLogger(__name__)

MODE: Final = "int8 blocks 1-4 (GPTQ weights; conv1_1 float32), float32 block 5 and head"
QUANTIZED_LAYER: Final = re.compile(r"(?:^|/)(conv1_2|conv[2-4]_\d|pool[1-3])(?:_\d+)?/")
"""Node names tf2onnx gives the quantized layers (`.../conv3_2_1/convolution`, `.../pool2_1/MaxPool2d`)."""
QUANTIZED_CONVOLUTIONS: Final = 9
"""conv1_2 + 2 + 3 + 3: blocks 1-4 without conv1_1."""
FLOAT32_LAYERS: Final = ("conv1_1", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5", "gap", "fc1", "fc2", "logits")
QUANTIZED_OPS: Final = ("Conv", "Relu", "MaxPool")


@dataclass(frozen=True)
class Int8BlocksLimits:
    probs: float = 0.02
    """Max |INT8-blocks - fp32| over all probabilities."""
    f1_drop: float = 0.02
    """fp32 F1 minus INT8-blocks F1 (pain = positive) on the labelled held-out crops."""
    maps_mean: float = 0.05
    """Mean |INT8-blocks - fp32| over all Grad-CAM map cells (both classes)."""
    argmax_agreement: float = 0.95
    """Share of crops whose pain-class Grad-CAM hottest cell is kept (see `argmax_tie`)."""
    argmax_tie: float = 0.05
    """The hottest cell counts as kept when the candidate's lies within this of the peak in the float32 map
    (normalised to 1). Maps with near-equal peaks (two brows at 1.000 and 0.998) swap them under any
    perturbation, float16 weights included; 0 demands the very same cell. Same size as `maps_mean`."""


def block_nodes(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """(nodes to quantize: the Conv/Relu/MaxPool nodes of blocks 1-4, every other node to exclude)."""
    quantize, exclude = [], []
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS and QUANTIZED_LAYER.search(node.name):
            quantize.append(node.name)
        else:
            exclude.append(node.name)
    # tf2onnx names a convolution `.../convolution` or, when it fused the bias in, `.../BiasAdd`: count by op type.
    convs = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name in set(quantize)]
    if len(convs) != QUANTIZED_CONVOLUTIONS:
        raise UserError(
            f"int8 blocks: expected the {QUANTIZED_CONVOLUTIONS} convolutions conv1_2..conv4_3 by name, found "
            f"{len(convs)}; "
            "the graph's node names do not follow the thesis model's layer names"
        )
    return quantize, exclude


def quantize_blocks(fp32_onnx: bytes, calibration_images: np.ndarray) -> tuple[bytes, dict[str, Any]]:
    """Static QDQ INT8 of blocks 1-4 only; returns (model bytes, what was quantized)."""
    model = onnx.load_from_string(fp32_onnx)
    to_quantize, to_exclude = block_nodes(model)
    with tempfile.TemporaryDirectory(prefix="painwatch-int8-blocks-") as tmp:
        fp32_path, out_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8_blocks.onnx"
        fp32_path.write_bytes(fp32_onnx)
        started = time.perf_counter()
        quantize_static(
            fp32_path,
            out_path,
            CropReader(calibration_images),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=to_quantize,
            nodes_to_exclude=to_exclude,
            calibrate_method=CalibrationMethod.MinMax,
        )
        seconds = time.perf_counter() - started
        data = out_path.read_bytes()
    logger.info("quantized blocks 1-4 in %.0f s on %d calibration crops", seconds, len(calibration_images))
    return data, {
        "quantized_nodes": len(to_quantize),
        "quantized_convolutions": sorted(
            {m.group(1) for n in to_quantize if (m := QUANTIZED_LAYER.search(n)) and m.group(1).startswith("conv")}
        ),
        "float32_layers": list(FLOAT32_LAYERS),
    }


def gptq_weights(fp32_onnx: bytes, qdq_onnx: bytes, images: np.ndarray) -> tuple[bytes, list[dict[str, Any]]]:
    """Replace the quantizer's round-to-nearest INT8 weights with GPTQ's, on the float32 graph's layer inputs.

    Scales, zero points, biases and the graph stay as written; returns (model bytes, per-layer relative output
    error with the nearest and with the GPTQ integers on `images`)."""
    started = time.perf_counter()
    qdq, fp32 = onnx.load_from_string(qdq_onnx), onnx.load_from_string(fp32_onnx)
    producers = {out: node for node in qdq.graph.node for out in node.output}
    initializers = {init.name: init for init in qdq.graph.initializer}
    fp32_convs = {node.name: node for node in fp32.graph.node if node.op_type == "Conv"}
    quantized = [
        node for node in qdq.graph.node
        if node.op_type == "Conv" and (dq := producers.get(node.input[1])) is not None
        and dq.op_type == "DequantizeLinear" and dq.input[0] in initializers
    ]  # fmt: skip
    fp32_weights = {init.name: numpy_helper.to_array(init) for init in fp32.graph.initializer}
    weights = [fp32_weights[fp32_convs[conv.name].input[1]] for conv in quantized]
    grams = layer_input_grams(fp32, [fp32_convs[conv.name].input[0] for conv in quantized], weights, images)
    layers = []
    for conv, weight, inputs in zip(quantized, weights, grams, strict=True):
        gram = inputs.matrix
        dequantize = producers[conv.input[1]]
        integers_name = dequantize.input[0]
        scale = numpy_helper.to_array(initializers[dequantize.input[1]])
        nearest = numpy_helper.to_array(initializers[integers_name])
        if not np.array_equal(nearest, round_to_nearest(weight, scale)):  # the quantizer changed its scheme
            raise RuntimeError(f"{conv.name}: the quantizer's INT8 weights are not per-channel absmax/127 rounding")
        integers = gptq_round(weight, gram, scale)
        initializers[integers_name].CopyFrom(numpy_helper.from_array(integers, integers_name))
        match = QUANTIZED_LAYER.search(conv.name)
        layers.append({
            "layer": match.group(1) if match else conv.name,
            "output_error_nearest": output_error(weight, nearest, scale, gram),
            "output_error_gptq": output_error(weight, integers, scale, gram),
        })  # fmt: skip
    logger.info("GPTQ chose the INT8 weights of %d convolutions in %.0f s", len(layers), time.perf_counter() - started)
    return qdq.SerializeToString(), layers


def layer_input_grams(
    model: onnx.ModelProto, inputs: list[str], weights: list[np.ndarray], images: np.ndarray
) -> list[PatchGram]:
    """The Gram matrix of each named convolution input's patches, over `images` run through `model`."""
    tapped = onnx.ModelProto()
    tapped.CopyFrom(model)
    tapped.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in inputs)
    session = ort.InferenceSession(tapped.SerializeToString(), providers=["CPUExecutionProvider"])
    grams = [PatchGram(weight.shape[1], weight.shape[-1]) for weight in weights]
    for start in range(0, len(images), 8):
        for gram, values in zip(grams, session.run(inputs, {"image": images[start : start + 8]}), strict=True):
            gram.add(np.asarray(values))
    return grams


def fp32_consumers_of_dequantized(model: onnx.ModelProto) -> list[str]:
    """Names of nodes in the float32 part (block 5, head, Grad-CAM) that read a dequantized weight.

    The float32 part may read one dequantized activation (pool4's input comes from conv4_3's quantized
    output); it must never read a quantized weight. Empty when the placement is right."""
    initializers = {i.name for i in model.graph.initializer}
    dq_weights = {
        n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in initializers
    }
    return [
        n.name
        for n in model.graph.node
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
        and not QUANTIZED_LAYER.search(n.name)
        and any(name in dq_weights for name in n.input)
    ]


def deviation(
    fp32: ort.InferenceSession,
    candidate: ort.InferenceSession,
    images: np.ndarray,
    labels: np.ndarray | None,
    limits: Int8BlocksLimits,
    positive: int = 1,
) -> dict[str, Any]:
    """Both models on the same crops, in batches of 8: the four limits' figures and which limits failed."""
    outputs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"fp32": [], "candidate": []}
    for start in range(0, len(images), 8):
        batch = images[start : start + 8].astype(np.float32)
        for kind, session in (("fp32", fp32), ("candidate", candidate)):
            probs, maps = session.run(["probs", "gradcam"], {"image": batch})
            outputs[kind].append((np.asarray(probs), np.asarray(maps)))
    ref_probs = np.concatenate([p for p, _ in outputs["fp32"]])
    ref_maps = np.concatenate([m for _, m in outputs["fp32"]])
    probs = np.concatenate([p for p, _ in outputs["candidate"]])
    maps = np.concatenate([m for _, m in outputs["candidate"]])
    flat_ref = ref_maps[:, positive].reshape(len(images), -1)
    flat = maps[:, positive].reshape(len(images), -1)
    rows = np.arange(len(images))
    old_cell, new_cell = flat_ref.argmax(axis=1), flat.argmax(axis=1)
    flipped = old_cell != new_cell
    margins = flat_ref[rows, old_cell] - flat_ref[rows, new_cell]  # how close the fp32 map had the two cells
    moved = flipped & (margins > limits.argmax_tie)
    report: dict[str, Any] = {
        "crops": len(images),
        "probs_max_abs_vs_fp32": float(np.max(np.abs(probs - ref_probs))),
        "maps_mean_abs_vs_fp32": float(np.mean(np.abs(maps - ref_maps))),
        "maps_max_abs_vs_fp32": float(np.max(np.abs(maps - ref_maps))),
        # the limit: the candidate's hottest cell is one of the fp32 map's hottest (within argmax_tie of its peak)
        "argmax_cell_agreement": float(np.mean(~moved)),
        # the very same cell, near-ties included (reported, not a limit unless argmax_tie is 0)
        "argmax_cell_exact_agreement": float(np.mean(~flipped)),
        # largest fp32-map gap between the old and the new argmax cell over the crops that flipped: small values
        # mean near-ties, not a hot spot that moved
        "argmax_flips_fp32_margin_max": float(margins[flipped].max()) if flipped.any() else None,
        "labelled_crops": 0 if labels is None else len(labels),
        "f1_fp32": None,
        "f1_candidate": None,
        "f1_drop": None,
    }
    if labels is not None and len(labels):
        n = len(labels)  # the labelled crops come first
        f1_ref = float(f1_score(labels, ref_probs[:n].argmax(axis=1), pos_label=positive, zero_division=0))
        f1 = float(f1_score(labels, probs[:n].argmax(axis=1), pos_label=positive, zero_division=0))
        report.update(f1_fp32=f1_ref, f1_candidate=f1, f1_drop=f1_ref - f1)
    report["failed_limits"] = failed_limits(report, limits)
    return report


def failed_limits(report: dict[str, Any], limits: Int8BlocksLimits) -> list[str]:
    """One sentence per limit missed (`not <=` also catches NaN)."""
    problems = []
    if not report["probs_max_abs_vs_fp32"] <= limits.probs:
        problems.append(f"probabilities moved by up to {report['probs_max_abs_vs_fp32']:.3g} (limit {limits.probs:g})")
    if report["f1_drop"] is not None and not report["f1_drop"] <= limits.f1_drop:
        problems.append(
            f"F1 dropped by {report['f1_drop']:.3g} ({report['f1_fp32']:.3f} -> {report['f1_candidate']:.3f}; "
            f"limit {limits.f1_drop:g})"
        )
    if not report["maps_mean_abs_vs_fp32"] <= limits.maps_mean:
        problems.append(
            f"Grad-CAM maps moved by {report['maps_mean_abs_vs_fp32']:.3g} on average (limit {limits.maps_mean:g})"
        )
    if not report["argmax_cell_agreement"] >= limits.argmax_agreement:
        problems.append(
            f"Grad-CAM hottest cell kept (within {limits.argmax_tie:g} of the float32 peak) on only "
            f"{report['argmax_cell_agreement']:.1%} of crops (limit {limits.argmax_agreement:.0%})"
        )
    return problems


def quantize_int8_blocks(
    fp32_onnx: bytes,
    calibration: Path | None,
    check_images: np.ndarray,
    input_size: int,
    limits: Int8BlocksLimits | None = None,
    check_labels: np.ndarray | None = None,
    float16_storage: bool = False,
) -> tuple[bytes, dict[str, Any]]:
    """(mixed-precision model bytes, model-card report); raises UserError naming each limit missed.

    `float16_storage` (`--int8-blocks --fp16-weights`) stores the float32 part's large weights (conv1_1, block 5,
    the head) as float16, still computed in float32; the limits then measure that final model.

    As for `--int8`, the calibration dataset is split by infant: one part calibrates the activation ranges,
    the held-out part plus the export's check crops measure the limits; F1 uses the held-out labels and, when
    the check crops come from a dataset (`check_labels`), theirs too."""
    limits = limits or Int8BlocksLimits()
    split = calibration_split(calibration, input_size, "--int8-blocks", "INT8-blocks")
    calib_images, held_images, labels = split.calib_images, split.held_images, split.held_labels
    if check_labels is not None and len(check_labels) == len(check_images):
        labels = np.concatenate([labels, check_labels])
    nearest, placement = quantize_blocks(fp32_onnx, calib_images)
    payload, gptq_layers = gptq_weights(fp32_onnx, nearest, calib_images)
    float16_tensors = 0
    if float16_storage:
        halved, float16_tensors = to_fp16_weights(onnx.load_from_string(payload))
        payload = halved.SerializeToString()
    misplaced = fp32_consumers_of_dequantized(onnx.load_from_string(payload))
    if misplaced:
        raise UserError(f"int8 blocks: float32 nodes read quantized weights ({misplaced[:3]}); nothing was written")
    reference, candidate = (ort.InferenceSession(d, providers=["CPUExecutionProvider"]) for d in (fp32_onnx, payload))
    crops = np.concatenate([held_images, check_images.astype(np.float32)])
    measured = deviation(reference, candidate, crops, labels, limits)
    report: dict[str, Any] = {
        "mode": MODE,
        "method": "static QDQ INT8 (onnxruntime quantize_static, MinMax activations, per-channel weights) on "
        "the Conv/Relu/MaxPool nodes of conv1_2..conv4_3 and pool1..pool3, named in nodes_to_quantize; all other "
        "nodes in nodes_to_exclude; weight integers re-chosen by GPTQ on the calibration crops (scales unchanged)",
        **placement,
        "gptq": gptq_layers,
        "float16_stored_tensors": float16_tensors,
        **split.report(),
        "check_crops": len(check_images),
        "f1_crops": len(labels),
        "limits": asdict(limits),
        "measured": measured,
    }
    failures = measured["failed_limits"]
    if failures:
        raise UserError(
            f"INT8-blocks model outside its limits on {measured['crops']} crops; nothing was written: "
            + "; ".join(failures)
        )
    return payload, report
