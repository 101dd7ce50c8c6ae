"""Post-processing of the converted ONNX graph: drop transposed weight copies, attach metadata."""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

logger = logging.getLogger(__name__)


def dedupe_transposed_weights(model: onnx.ModelProto) -> int:
    """Replace MatMul(X, W^T-copy) by Gemm(X, W, transB=1) and drop the copy; returns the bytes saved.

    tf2onnx constant-folds `matmul(x, W, transpose_b=True)` into a second, transposed initializer
    (the forward-only Grad-CAM uses every dense kernel twice), which would add ~12.6 MB to the file.
    Only rank-2 MatMuls are rewritten (Gemm is rank-2); the Grad-CAM graph makes its matmuls rank 2.
    """
    graph = model.graph
    inits = {init.name: init for init in graph.initializer if len(init.dims) == 2}
    by_shape: dict[tuple[int, int], list[str]] = {}
    for name, init in inits.items():
        by_shape.setdefault((int(init.dims[0]), int(init.dims[1])), []).append(name)
    originals = _transposed_pairs(model, inits, by_shape)
    if not originals:
        return 0
    ranks = _value_ranks(model)
    saved = 0
    for index, node in enumerate(list(graph.node)):
        if node.op_type != "MatMul" or node.input[1] not in originals:
            continue
        if ranks.get(node.input[0]) != 2:
            logger.debug("not rewriting %s: input rank is not known to be 2", node.name)
            continue
        gemm = helper.make_node(
            "Gemm", [node.input[0], originals[node.input[1]]], list(node.output), name=node.name + "_gemm", transB=1
        )
        graph.node.remove(node)
        graph.node.insert(index, gemm)
    used = {name for node in graph.node for name in node.input}
    for copy in originals:
        if copy not in used:
            init = inits[copy]
            saved += int(np.prod(init.dims)) * numpy_helper.to_array(init).itemsize
            graph.initializer.remove(init)
    logger.info("removed transposed weight copies: %.1f MB", saved / 1e6)
    return saved


def _transposed_pairs(
    model: onnx.ModelProto, inits: dict[str, onnx.TensorProto], by_shape: dict[tuple[int, int], list[str]]
) -> dict[str, str]:
    """{copy name: original name} for every 2-D initializer that equals another one transposed.

    Of each pair, the original is the one the graph uses first (the forward Dense layer, in
    topological order); the later, constant-folded one is the copy.
    """
    first_use: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            first_use.setdefault(name, index)
    arrays: dict[str, np.ndarray] = {}

    def array(name: str) -> np.ndarray:
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(inits[name])
        return arrays[name]

    pairs: dict[str, str] = {}
    for (rows, cols), names in by_shape.items():
        if rows >= cols or rows * cols < 4096:  # visit each shape pair once; square and tiny ones are skipped
            continue
        for a in names:
            for b in by_shape.get((cols, rows), []):
                if b in pairs or a in pairs or not np.array_equal(array(a), array(b).T):
                    continue
                original, copy = sorted((a, b), key=lambda n: first_use.get(n, len(model.graph.node)))
                pairs[copy] = original
                break
    return pairs


def _value_ranks(model: onnx.ModelProto) -> dict[str, int]:
    """Rank of every value shape inference can determine (initializers included)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks: dict[str, int] = {init.name: len(init.dims) for init in model.graph.initializer}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            ranks[info.name] = len(info.type.tensor_type.shape.dim)
    return ranks


def set_metadata(model: onnx.ModelProto, key: str, value: str) -> None:
    """Set (or replace) one `metadata_props` entry."""
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value


def get_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {prop.key: prop.value for prop in model.metadata_props}
