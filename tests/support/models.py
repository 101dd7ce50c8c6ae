"""Small ONNX models that honour the model contract but misbehave on purpose, built with `onnx.helper`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SKIN_RED_EXCESS = 20.0
"""A crop whose mean red exceeds its mean blue by this gets NaN: skin-toned faces do, grey, dark, bright, noise and
gradient crops (the warm-up and the service's probe crops) do not."""


def write_nan_on_faces_model(folder: Path, card_from: Path) -> Path:
    """A valid exported-model folder: pain probability 0.25 + 0.5 * mean brightness (so not constant) and
    `gradcam` [N,2,14,14] = 0.5, both NaN for a face-like (reddish) crop. The card is copied from `card_from` (an
    exported model folder) and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    n = "N"
    consts = [
        numpy_helper.from_array(np.array(SKIN_RED_EXCESS, np.float32), "excess"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([0], np.int64), "red"),
        numpy_helper.from_array(np.array([2], np.int64), "blue"),
        numpy_helper.from_array(np.array([3], np.int64), "channel_axis"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "shape_probs"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape_cam"),
        numpy_helper.from_array(np.full((1, 2, 14, 14), 0.5, np.float32), "half_cam"),
        numpy_helper.from_array(np.array(0.5 / 255, np.float32), "scale"),
        numpy_helper.from_array(np.array(0.25, np.float32), "base"),
        numpy_helper.from_array(np.array([1], np.int64), "column_axis"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["brightness"], axes=[1, 2, 3], keepdims=0),  # [N]
        helper.make_node("Mul", ["brightness", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "base"], ["pain"]),
        helper.make_node("Unsqueeze", ["pain", "column_axis"], ["pain_column"]),  # [N,1]
        helper.make_node("Sub", ["one", "pain_column"], ["calm_column"]),
        helper.make_node("Concat", ["calm_column", "pain_column"], ["varied_probs"], axis=1),  # [N,2]
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[1, 2], keepdims=1),  # [N,1,1,3]
        helper.make_node("Gather", ["means", "red"], ["mean_red"], axis=3),
        helper.make_node("Gather", ["means", "blue"], ["mean_blue"], axis=3),
        helper.make_node("Sub", ["mean_red", "mean_blue"], ["reddish"]),
        helper.make_node("Greater", ["reddish", "excess"], ["is_face"]),
        helper.make_node("Cast", ["is_face"], ["flag"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "flag"], ["keep"]),
        helper.make_node("Log", ["keep"], ["log_keep"]),  # 0, or -inf for a face
        helper.make_node("Mul", ["log_keep", "zero"], ["offset"]),  # 0, or NaN (0 * -inf)
        helper.make_node("Reshape", ["offset", "shape_probs"], ["offset_probs"]),
        helper.make_node("Reshape", ["offset", "shape_cam"], ["offset_cam"]),
        helper.make_node("Add", ["varied_probs", "offset_probs"], ["probs"]),
        helper.make_node("Add", ["half_cam", "offset_cam"], ["gradcam"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nan_on_faces",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, 224, 224, 3])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, [n, 2]),
            helper.make_tensor_value_info("gradcam", TensorProto.FLOAT, [n, 2, 14, 14]),
        ],
        initializer=[c for c in consts if c.name != "channel_axis"],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    card = json.loads((card_from / "model_card.json").read_text())
    card.update(name="nan-on-faces", version="1", demo=True)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


def write_constant_model(folder: Path, card_from: Path, pain: float = 0.1) -> Path:
    """A valid exported-model folder that answers the same probability and map for every crop (it would silence
    every bed): `probs` = [1 - pain, pain], `gradcam` = 0.5, shaped by the batch."""
    folder.mkdir(parents=True, exist_ok=True)
    consts = [
        numpy_helper.from_array(np.array([[1 - pain, pain]], np.float32), "row"),
        numpy_helper.from_array(np.full((1, 2, 14, 14), 0.5, np.float32), "cam"),
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),  # [N]
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Unsqueeze", ["nothing", "one_axis"], ["column"]),  # [N,1] zeros
        helper.make_node("Add", ["column", "row"], ["probs"]),
        helper.make_node("Unsqueeze", ["column", "cam_axes"], ["zeros4"]),  # [N,1,1,1]
        helper.make_node("Add", ["zeros4", "cam"], ["gradcam"]),
    ]
    consts += [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one_axis"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "cam_axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 224, 224, 3])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("gradcam", TensorProto.FLOAT, ["N", 2, 14, 14]),
        ],
        initializer=[c for c in consts if c.name != "axes"],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    card = json.loads((card_from / "model_card.json").read_text())
    card.update(name="constant", version="1", demo=True)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


MOUTH_ROWS = (150, 175)
MOUTH_COLS = (97, 127)
"""Where the mouth lies in a 224-px crop of the scripted demo's pseudo-infant (service/demo_video.py): its open
crying mouth (the synthetic cohort's `open_mouth` cue, drawn in every pain phase) makes this patch dark, the calm
mouth bright."""
MOUTH_THRESHOLD = 143.5
"""Mean patch brightness (0-255) where the pain probability is 0.5, midway between what was measured on the
scripted demo's crops: calm 152-189, pain 97-136 (so every frame's probability is within 0.02 of 0 or 1)."""
MOUTH_GAIN = 0.5


def write_dark_mouth_model(folder: Path, card_from: Path, invert: bool = False) -> Path:
    """A valid exported-model folder whose pain probability is a known function of the crop: with m the mean of the
    crop's pixels in MOUTH_ROWS x MOUTH_COLS (all channels), p = sigmoid(MOUTH_GAIN * (MOUTH_THRESHOLD - m)), so a
    crying mouth gives p ~ 1 and a calm one p ~ 0 (`invert`: the opposite). `probs` = [1 - p, p]; `gradcam` = 0.5."""
    folder.mkdir(parents=True, exist_ok=True)
    n = "N"
    gain = -MOUTH_GAIN if invert else MOUTH_GAIN
    consts = [
        numpy_helper.from_array(np.array([0, MOUTH_ROWS[0], MOUTH_COLS[0], 0], np.int64), "starts"),
        numpy_helper.from_array(np.array([2**31 - 1, MOUTH_ROWS[1], MOUTH_COLS[1], 3], np.int64), "ends"),
        numpy_helper.from_array(np.array(MOUTH_THRESHOLD, np.float32), "threshold"),
        numpy_helper.from_array(np.array(gain, np.float32), "gain"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape_cam"),
        numpy_helper.from_array(np.full((1, 2, 14, 14), 0.5, np.float32), "half_cam"),
    ]
    nodes = [
        helper.make_node("Slice", ["image", "starts", "ends"], ["patch"]),
        helper.make_node("ReduceMean", ["patch"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Sub", ["threshold", "mean"], ["margin"]),
        helper.make_node("Mul", ["margin", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p"]),
        helper.make_node("Unsqueeze", ["p", "axis1"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["q1"]),
        helper.make_node("Concat", ["q1", "p1"], ["probs"], axis=1),
        helper.make_node("Mul", ["p1", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "shape_cam"], ["nothing_cam"]),
        helper.make_node("Add", ["half_cam", "nothing_cam"], ["gradcam"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dark_mouth",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, 224, 224, 3])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, [n, 2]),
            helper.make_tensor_value_info("gradcam", TensorProto.FLOAT, [n, 2, 14, 14]),
        ],
        initializer=consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    card = json.loads((card_from / "model_card.json").read_text())
    card.update(name="dark-mouth-inverted" if invert else "dark-mouth", version="1", demo=True)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder
