from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from service.errors import UserError
from training.model.architecture import CONV_LAYER_NAMES, build_model
from training.model.weights import load_backbone_weights


def write_keras2_notop(path: Path, model: keras.Model, seed: int = 0, bad: dict | None = None) -> dict:
    """A file in the keras-vggface / Keras 2 layout; returns the arrays written per layer."""
    rng = np.random.default_rng(seed)
    written = {}
    names = [layer.name for layer in model.layers if layer.name.startswith(("conv", "pool"))]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name in names:
            group = f.create_group(name)
            layer = model.get_layer(name)
            shapes = [tuple(w.shape) for w in layer.weights]
            if bad and name in bad:
                shapes[0] = bad[name]
            weight_names = [f"{name}/kernel:0", f"{name}/bias:0"][: len(shapes)]
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            arrays = [rng.normal(size=s).astype(np.float32) for s in shapes]
            for weight_name, array in zip(weight_names, arrays, strict=True):
                group.create_dataset(weight_name, data=array)  # nested path, as Keras 2 stores it
            written[name] = arrays
    return written


@pytest.fixture
def model() -> keras.Model:
    return build_model(input_size=32, seed=1)


def test_keras2_layout_loads_by_layer_name(tmp_path, model) -> None:
    path = tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5"
    written = write_keras2_notop(path, model)
    head_before = model.get_layer("fc1").get_weights()[0].copy()
    loaded = load_backbone_weights(model, path)
    assert loaded == list(CONV_LAYER_NAMES)
    for name in CONV_LAYER_NAMES:
        kernel, bias = model.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, written[name][0])
        np.testing.assert_array_equal(bias, written[name][1])
    np.testing.assert_array_equal(model.get_layer("fc1").get_weights()[0], head_before)


def test_shape_mismatch_names_layer_and_both_shapes(tmp_path, model) -> None:
    path = tmp_path / "bad.h5"
    write_keras2_notop(path, model, bad={"conv3_2": (3, 3, 128, 256)})
    before = model.get_layer("conv1_1").get_weights()[0].copy()
    with pytest.raises(UserError) as err:
        load_backbone_weights(model, path)
    message = str(err.value)
    assert "conv3_2" in message and "(3, 3, 128, 256)" in message and "(3, 3, 256, 256)" in message
    np.testing.assert_array_equal(model.get_layer("conv1_1").get_weights()[0], before)  # nothing half-loaded


def test_not_hdf5_is_a_clear_error(tmp_path, model) -> None:
    path = tmp_path / "weights.h5"
    path.write_text("this is not HDF5")
    with pytest.raises(UserError, match="not an HDF5 file"):
        load_backbone_weights(model, path)
    with pytest.raises(UserError, match="not found"):
        load_backbone_weights(model, tmp_path / "missing.h5")


def test_hdf5_without_vggface_layers_is_a_clear_error(tmp_path, model) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        f.create_group("dense_1").attrs["weight_names"] = []
    with pytest.raises(UserError, match="lacks layer"):
        load_backbone_weights(model, path)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(UserError, match="keras-vggface"):
        load_backbone_weights(model, plain)


def test_keras3_weights_file_of_this_architecture(tmp_path, model) -> None:
    source = build_model(input_size=32, seed=2)
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    load_backbone_weights(model, path)
    np.testing.assert_array_equal(
        model.get_layer("conv5_3").get_weights()[0], source.get_layer("conv5_3").get_weights()[0]
    )
    np.testing.assert_array_equal(
        model.get_layer("logits").get_weights()[0], source.get_layer("logits").get_weights()[0]
    )
