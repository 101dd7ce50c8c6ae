"""Small ONNX models that honour the model contract but misbehave on purpose, built with `onnx.helper`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BRIGHT = 200.0
"""A crop whose brightest pixel exceeds this gets NaN: the grey warm-up crop (128) passes, real faces do not."""


def write_nan_on_bright_model(folder: Path, card_from: Path) -> Path:
    """A valid exported-model folder: `probs` [N,2] = 0.5 and `gradcam` [N,2,14,14] = 0.5, both NaN for a crop with a
    pixel above BRIGHT. The card is copied from `card_from` (an exported model folder) and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    n = "N"
    consts = [
        numpy_helper.from_array(np.array(BRIGHT, np.float32), "bright"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "shape_probs"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape_cam"),
        numpy_helper.from_array(np.full((1, 2), 0.5, np.float32), "half_probs"),
        numpy_helper.from_array(np.full((1, 2, 14, 14), 0.5, np.float32), "half_cam"),
    ]
    nodes = [
        helper.make_node("ReduceMax", ["image"], ["peak"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Greater", ["peak", "bright"], ["is_bright"]),
        helper.make_node("Cast", ["is_bright"], ["flag"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "flag"], ["keep"]),
        helper.make_node("Log", ["keep"], ["log_keep"]),  # 0, or -inf when bright
        helper.make_node("Mul", ["log_keep", "zero"], ["offset"]),  # 0, or NaN (0 * -inf)
        helper.make_node("Reshape", ["offset", "shape_probs"], ["offset_probs"]),
        helper.make_node("Reshape", ["offset", "shape_cam"], ["offset_cam"]),
        helper.make_node("Add", ["half_probs", "offset_probs"], ["probs"]),
        helper.make_node("Add", ["half_cam", "offset_cam"], ["gradcam"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nan_on_bright",
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
    card.update(name="nan-on-bright", version="1", demo=True)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder
