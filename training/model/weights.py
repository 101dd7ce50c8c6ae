"""Backbone weights: the keras-vggface VGG-16 "notop" file (Keras 2 HDF5) or a Keras 3 `.weights.h5`.

keras-vggface 0.6 does not import under Keras 3, so its `rcmalli_vggface_tf_notop_vgg16.h5` is read here
with h5py, layer by layer, by name. Keras 2 layout (`save_weights_to_hdf5_group`): root attribute
`layer_names`; one group per layer with attribute `weight_names` (e.g. `conv1_1/kernel:0`,
`conv1_1/bias:0`, in the layer's weight order); each weight is the dataset at that (nested) path inside
the layer group. Long attributes may be split into `layer_names0`, `layer_names1`, ...; a whole-model file
keeps all of this under a `model_weights` group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from service.errors import UserError
from training.model.architecture import CONV_LAYER_NAMES

logger = logging.getLogger(__name__)

KERAS3_WEIGHTS_SUFFIX = ".weights.h5"


def load_backbone_weights(model: keras.Model, path: Path) -> list[str]:
    """Load VGG-Face weights into `model`; returns the names of the layers that received weights.

    A Keras-2 HDF5 (keras-vggface) fills every `conv*` layer by name, checking every shape; a Keras 3
    `.weights.h5` of this architecture fills the whole model. Problems raise UserError naming the file,
    and for shape mismatches the layer and both shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: backbone weights file not found")
    if not h5py.is_hdf5(path):
        raise UserError(
            f"{path}: not an HDF5 file; expected the keras-vggface VGG-16 notop weights "
            "(rcmalli_vggface_tf_notop_vgg16.h5) or a Keras `.weights.h5` of this model"
        )
    with h5py.File(path, "r") as handle:
        # A whole-model Keras 2 file keeps the weights under `model_weights`.
        root: h5py.Group = handle["model_weights"] if "model_weights" in handle else handle  # noqa: SIM401
        is_keras2 = bool(_attr_strings(root, "layer_names"))
        if is_keras2:
            return _load_keras2(model, root, path)
    if path.name.endswith(KERAS3_WEIGHTS_SUFFIX):
        return _load_keras3(model, path)
    raise UserError(
        f"{path}: HDF5 file without Keras-2 `layer_names` and not a Keras 3 `{KERAS3_WEIGHTS_SUFFIX}` file; "
        "expected the keras-vggface VGG-16 notop weights (rcmalli_vggface_tf_notop_vgg16.h5)"
    )


def backbone_source(path: Path) -> str | None:
    """Where a weights file `painwatch model fetch-backbone` wrote came from (its `painwatch_source` attribute);
    None for keras-vggface's file and other weights."""
    if not h5py.is_hdf5(path):
        return None
    with h5py.File(path, "r") as handle:
        source = handle.attrs.get("painwatch_source")
    return source.decode() if isinstance(source, bytes) else source


def _attr_strings(group: h5py.Group, name: str) -> list[str]:
    """A string-list attribute, joining the chunks Keras 2 writes for long lists (`name0`, `name1`...)."""
    if name in group.attrs:
        raw: Sequence[Any] = group.attrs[name]
    else:
        raw = []
        chunk = 0
        while f"{name}{chunk}" in group.attrs:
            raw = [*raw, *group.attrs[f"{name}{chunk}"]]
            chunk += 1
    return [item.decode("utf8") if isinstance(item, bytes) else str(item) for item in raw]


def _load_keras2(model: keras.Model, root: h5py.Group, path: Path) -> list[str]:
    file_layers = set(_attr_strings(root, "layer_names"))
    wanted = [name for name in CONV_LAYER_NAMES if _has_layer(model, name)]
    missing = [name for name in wanted if name not in file_layers or name not in root]
    if missing:
        raise UserError(
            f"{path}: the weights file lacks layer(s) {', '.join(missing)}; expected the keras-vggface "
            f"VGG-16 layout (conv1_1..conv5_3). Layers in the file: {', '.join(sorted(file_layers)) or 'none'}"
        )
    # Read and check everything first, so a bad file leaves the model untouched.
    staged = {name: _read_layer(root[name], model.get_layer(name), path) for name in wanted}
    for name, values in staged.items():
        model.get_layer(name).set_weights(values)
    ignored = sorted(n for n in file_layers - set(wanted) if _attr_strings(root[n], "weight_names"))
    if ignored:
        logger.info("%s: ignored layers not in the backbone: %s", path, ", ".join(ignored))
    logger.info("loaded backbone weights for %d layers from %s", len(staged), path)
    return list(staged)


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _read_layer(group: h5py.Group, layer: keras.layers.Layer, path: Path) -> list[np.ndarray]:
    names = _attr_strings(group, "weight_names")
    expected = [tuple(int(d) for d in w.shape) for w in layer.weights]
    if len(names) != len(expected):
        raise UserError(
            f"{path}: layer {layer.name} has {len(names)} weight(s) in the file "
            f"({', '.join(names) or 'none'}) but the model expects {len(expected)} (kernel and bias)"
        )
    values = []
    for weight_name, want in zip(names, expected, strict=True):
        if weight_name not in group:
            raise UserError(f"{path}: layer {layer.name}: weight {weight_name} is listed but not stored")
        array = np.asarray(group[weight_name], dtype=np.float32)
        if tuple(array.shape) != want:
            raise UserError(
                f"{path}: layer {layer.name}: weight {weight_name} has shape {tuple(array.shape)} in the file "
                f"but the model expects {want}"
            )
        values.append(array)
    return values


def _load_keras3(model: keras.Model, path: Path) -> list[str]:
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as exc:
        raise UserError(f"{path}: could not load Keras weights into this architecture: {exc}") from exc
    logger.info("loaded Keras weights for the whole model from %s", path)
    return [layer.name for layer in model.layers if layer.weights]
