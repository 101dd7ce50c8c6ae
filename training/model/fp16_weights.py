"""Store an ONNX model's large weights as float16 while it still computes in float32.

Each large float32 initializer is replaced by a float16 copy plus a Cast back to float32 at the start of
the graph; ONNX Runtime folds the casts at load time. The file halves (71 MB -> 36 MB for the thesis
model) and, unlike INT8, every operation still runs in float32, so the Grad-CAM maps move only by the
weights' rounding. The export measures that deviation against the float32 graph and refuses beyond limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from service.errors import UserError

MIN_ELEMENTS = 1024
"""Smaller tensors (biases, constants) stay float32: they cost nothing and keep the graph's scalars exact."""


@dataclass(frozen=True)
class Fp16Limits:
    probs: float = 2e-3
    """Max |fp16-weights - fp32| over all probabilities."""
    maps: float = 2e-2
    """Max |fp16-weights - fp32| over all Grad-CAM map cells."""


def to_fp16_weights(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` with large float32 initializers stored as float16; returns (model, tensors converted)."""
    converted = onnx.ModelProto()
    converted.CopyFrom(model)
    graph = converted.graph
    casts = []
    kept = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or array.size < MIN_ELEMENTS:
            kept.append(init)
            continue
        stored = f"{init.name}__fp16"
        kept.append(numpy_helper.from_array(array.astype(np.float16), stored))
        casts.append(helper.make_node("Cast", [stored], [init.name], to=TensorProto.FLOAT, name=f"{stored}_cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(converted)
    return converted, len(casts)


def fp16_deviation(fp32_bytes: bytes, fp16_bytes: bytes, images: np.ndarray, limits: Fp16Limits) -> dict[str, Any]:
    """Run both graphs on the same crops; raise when the fp16-weights graph strays beyond `limits`."""
    options = ["CPUExecutionProvider"]
    reference = ort.InferenceSession(fp32_bytes, providers=options)
    candidate = ort.InferenceSession(fp16_bytes, providers=options)
    feed = {"image": images.astype(np.float32)}
    started = time.perf_counter()
    ref_probs, ref_maps = reference.run(["probs", "gradcam"], feed)
    fp32_s = time.perf_counter() - started
    started = time.perf_counter()
    probs, maps = candidate.run(["probs", "gradcam"], feed)
    fp16_s = time.perf_counter() - started
    probs_dev = float(np.max(np.abs(np.asarray(probs) - np.asarray(ref_probs))))
    maps_dev = float(np.max(np.abs(np.asarray(maps) - np.asarray(ref_maps))))
    report: dict[str, Any] = {
        "mode": "float16 weights, float32 compute",
        "probs_max_abs_vs_fp32": probs_dev,
        "maps_max_abs_vs_fp32": maps_dev,
        "limits": {"probs": limits.probs, "maps": limits.maps},
        "images": len(images),
        "seconds_fp32_vs_fp16_one_run": [round(fp32_s, 3), round(fp16_s, 3)],
    }
    problems = []
    if not probs_dev <= limits.probs:  # `not <=` also catches NaN
        problems.append(f"probabilities moved by {probs_dev:.3g} (limit {limits.probs:g})")
    if not maps_dev <= limits.maps:
        problems.append(f"Grad-CAM maps moved by {maps_dev:.3g} (limit {limits.maps:g})")
    if problems:
        raise UserError("float16 weights change the outputs too much; nothing was written: " + "; ".join(problems))
    return report
