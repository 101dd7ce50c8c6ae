from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from training.model import architecture as arch
from training.model.checkpoint import load_checkpoint, save_checkpoint


def test_thesis_parameter_count_at_224() -> None:
    model = arch.build_model(seed=0)
    total, trainable = arch.count_params(model)
    assert trainable == 10_230_274 == arch.EXPECTED_TRAINABLE_224
    assert total == 17_865_538  # VGG-16 notop conv weights (14,714,688) + head (3,150,850)
    assert model.get_layer("conv5_3").output.shape[1:] == (14, 14, 512)
    assert model.output_shape == (None, 2)


def test_layer_names_and_frozen_base(small_model: keras.Model) -> None:
    names = [layer.name for layer in small_model.layers]
    assert names[: names.index("pool4") + 1] == [
        "image", "vggface_preprocess",
        "conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2",
        "conv3_1", "conv3_2", "conv3_3", "pool3", "conv4_1", "conv4_2", "conv4_3", "pool4",
    ]  # fmt: skip
    frozen = [layer.name for layer in small_model.layers if not layer.trainable]
    assert frozen == names[: names.index("pool4") + 1]
    assert names[-4:] == ["fc2", "dropout2", "logits", "probs"]
    assert small_model.get_layer("logits").get_config()["activation"] == "linear"
    for name in ("fc1", "fc2", "logits"):
        assert small_model.get_layer(name).kernel_regularizer.get_config()["l1"] == pytest.approx(1e-5)
    assert small_model.get_layer("dropout1").rate == 0.5


def test_preprocessing_is_rgb_to_bgr_minus_vggface_mean() -> None:
    layer = arch.VGGFacePreprocess()
    rgb = np.zeros((1, 2, 2, 3), np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200.0, 100.0, 50.0  # R, G, B
    out = np.asarray(layer(rgb))
    np.testing.assert_allclose(out[0, 0, 0], [50.0 - 93.5940, 100.0 - 104.7624, 200.0 - 129.1863], rtol=1e-6)


def test_split_at_pool4_matches_full_model_and_shares_weights(small_model: keras.Model, real_crops_64) -> None:
    extractor, head = arch.feature_extractor(small_model), arch.block5_head(small_model)
    features = extractor.predict(real_crops_64, verbose=0)
    assert features.shape == (2, 4, 4, 512)
    full = small_model.predict(real_crops_64, verbose=0)
    np.testing.assert_allclose(head.predict(features, verbose=0), full, atol=1e-6)
    assert head.get_layer("conv5_1") is small_model.get_layer("conv5_1")
    _, trainable = arch.count_params(head)
    assert trainable == 10_230_274


def test_bad_input_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        arch.build_model(input_size=100)


def test_checkpoint_round_trip(tmp_path, small_model: keras.Model, real_crops_64) -> None:
    info = {"demo": True, "datasets": [{"name": "synthetic", "infants": 3, "frames": 9}]}
    save_checkpoint(small_model, tmp_path / "ck", info, l1=1e-5, dropout=0.5)
    meta = json.loads((tmp_path / "ck" / "checkpoint.json").read_text())
    assert meta["format"] == "painwatch-checkpoint" and meta["input_size"] == 64 and meta["info"] == info
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.info == info and loaded.input_size == 64
    np.testing.assert_array_equal(
        loaded.model.predict(real_crops_64, verbose=0), small_model.predict(real_crops_64, verbose=0)
    )
    assert arch.count_params(loaded.model)[1] == 10_230_274  # frozen flags survive the .keras file
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["checkpoint.json", "model.keras"]


def test_missing_checkpoint_is_a_user_error(tmp_path) -> None:
    from service.errors import UserError

    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="model.keras is missing"):
        load_checkpoint(tmp_path / "empty")
