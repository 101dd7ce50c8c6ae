"""The thesis model (4.3.2): VGG-Face VGG-16 base in the keras-vggface layout plus the classification head.

Input: RGB face crops, float 0-255, [N, S, S, 3]. The VGG-Face preprocessing runs inside the model
(`VGGFacePreprocess`), so training, Keras inference and the exported ONNX graph see identical input.

Layer names follow keras-vggface (`conv1_1`..`conv5_3`, `pool1`..`pool5`) so its weight file loads by name.
The head ends in a linear `logits` Dense and a separate `probs` Softmax: Grad-CAM needs the pre-softmax
score (thesis eq. 3.6), and the split adds no parameters.
"""

from __future__ import annotations

from typing import Any, Final

import keras
from keras import layers

INPUT_SIZE: Final = 224
DEFAULT_L1: Final = 1e-5
"""L1 coefficient on the kernels of the three head Dense layers (the thesis names an L1 penalty, no value)."""
DEFAULT_DROPOUT: Final = 0.5

VGGFACE_MEAN_BGR: Final = (93.5940, 104.7624, 129.1863)
"""keras-vggface `preprocess_input(version=1)` means, in B, G, R order."""

CONV_BLOCKS: Final = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""(filters, convolutions) per VGG-16 block."""
CONV_LAYER_NAMES: Final = tuple(
    f"conv{block}_{i}" for block, (_, n) in enumerate(CONV_BLOCKS, start=1) for i in range(1, n + 1)
)
SPLIT_LAYER: Final = "pool4"
"""Last frozen layer: everything up to here is the block-4 feature extractor."""
TRAINABLE_FROM: Final = ("conv5_1", "conv5_2", "conv5_3")
"""Where the trainable part may start: `conv5_1` (the thesis: block 5 + head), or later inside block 5."""
LAST_CONV: Final = "conv5_3"
HIDDEN_1, HIDDEN_2, LOGITS, PROBS = "fc1", "fc2", "logits", "probs"
CLASS_NAMES: Final = ("nonpain", "pain")
EXPECTED_TRAINABLE_224: Final = 10_230_274
"""3 x 2,359,808 (block 5) + 1,050,624 + 2,098,176 + 2,050 (head), as the thesis reports."""


@keras.saving.register_keras_serializable(package="painwatch")
class VGGFacePreprocess(layers.Layer):
    """RGB 0-255 -> BGR minus the VGG-Face channel means. No weights; serialisable (unlike a Lambda)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trainable = False

    def call(self, inputs: Any) -> Any:
        bgr = keras.ops.flip(inputs, axis=-1)
        mean = keras.ops.convert_to_tensor(VGGFACE_MEAN_BGR, dtype=inputs.dtype)
        return bgr - mean

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def build_model(
    input_size: int = INPUT_SIZE,
    l1: float = DEFAULT_L1,
    dropout: float = DEFAULT_DROPOUT,
    seed: int | None = None,
    trainable_from: str = TRAINABLE_FROM[0],
) -> keras.Model:
    """The thesis model with random weights; blocks 1-4 (through `pool4`) frozen.

    `input_size` must be a multiple of 32 (five 2x2 poolings); 224 is the contract, 64 is handy in tests
    (conv5_3 grid 4x4). `seed` makes the initial weights reproducible. `trainable_from` (`conv5_2`,
    `conv5_3`) freezes the start of block 5 too; the layers and weights are the same either way.
    """
    if input_size < 32 or input_size % 32:
        raise ValueError(f"input_size must be a multiple of 32 and at least 32, got {input_size}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    image = keras.Input(shape=(input_size, input_size, 3), dtype="float32", name="image")
    x = VGGFacePreprocess(name="vggface_preprocess")(image)
    for block, (filters, n_conv) in enumerate(CONV_BLOCKS, start=1):
        for i in range(1, n_conv + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}_{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    x = _head(x, l1, dropout)
    model = keras.Model(image, x, name="painwatch_vggface")
    freeze_base(model, trainable_from)
    return model


def _head(x: Any, l1: float, dropout: float) -> Any:
    # The L1 penalty sits on the head's Dense kernels (the only trainable weights outside block 5).
    def reg() -> keras.regularizers.Regularizer | None:
        return keras.regularizers.L1(l1) if l1 > 0 else None

    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(2048, activation="relu", kernel_regularizer=reg(), name=HIDDEN_1)(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Dense(1024, activation="relu", kernel_regularizer=reg(), name=HIDDEN_2)(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = layers.Dense(len(CLASS_NAMES), activation=None, kernel_regularizer=reg(), name=LOGITS)(x)
    return layers.Softmax(name=PROBS)(x)


def split_layer(trainable_from: str = TRAINABLE_FROM[0]) -> str:
    """The last frozen layer when training starts at `trainable_from` (`pool4` for the thesis's `conv5_1`)."""
    if trainable_from not in TRAINABLE_FROM:
        raise ValueError(f"trainable_from must be one of {', '.join(TRAINABLE_FROM)}, got {trainable_from!r}")
    index = CONV_LAYER_NAMES.index(trainable_from)
    return SPLIT_LAYER if trainable_from == TRAINABLE_FROM[0] else CONV_LAYER_NAMES[index - 1]


def freeze_base(model: keras.Model, trainable_from: str = TRAINABLE_FROM[0]) -> None:
    """Freeze every layer up to and including the split layer (`pool4`: input + preprocessing + blocks 1-4)."""
    split = split_layer(trainable_from)
    frozen = True
    for layer in model.layers:
        layer.trainable = not frozen
        if layer.name == split:
            frozen = False


def count_params(model: keras.Model) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    total = sum(int(keras.ops.size(w)) for w in model.weights)
    return total, trainable


def input_size_of(model: keras.Model) -> int:
    shape = model.input_shape
    return int(shape[1])


def feature_extractor(model: keras.Model, split: str = SPLIT_LAYER) -> keras.Model:
    """Image -> `split` features (the frozen part; `pool4` by default). Shares its layers with `model`."""
    return keras.Model(model.inputs, model.get_layer(split).output, name="frozen_features")


def block5_head(model: keras.Model, split: str = SPLIT_LAYER) -> keras.Model:
    """`split` features (`pool4` by default) -> class probabilities (the rest of the network: block 5 + head),
    sharing `model`'s layers and weights.

    The trainer caches `feature_extractor` outputs of un-augmented images and trains this model on them.
    """
    names = [layer.name for layer in model.layers]
    split_index = names.index(split)
    features_shape = tuple(model.get_layer(split).output.shape[1:])
    features = keras.Input(shape=features_shape, name=f"{split}_features")
    x = features
    # The graph after pool4 is a plain chain, so replaying the layers in order rebuilds it.
    for layer in model.layers[split_index + 1 :]:
        x = layer(x)
    return keras.Model(features, x, name="block5_head")


def grad_cam_outputs_model(model: keras.Model) -> keras.Model:
    """Image -> [conv5_3 maps A, hidden 1, hidden 2, logits, probs] (the tensors Grad-CAM needs)."""
    outputs = [model.get_layer(name).output for name in (LAST_CONV, HIDDEN_1, HIDDEN_2, LOGITS, PROBS)]
    return keras.Model(model.inputs, outputs, name="gradcam_taps")


def summary_lines(model: keras.Model) -> list[str]:
    """The layer table as text lines: name, type, output shape, parameters, trainable."""
    rows = [f"{'layer':<20} {'type':<24} {'output shape':<22} {'params':>12}  trainable"]
    for layer in model.layers:
        params = sum(int(keras.ops.size(w)) for w in layer.weights)
        shape = str(tuple(layer.output.shape))
        flag = "yes" if layer.trainable else "no"
        rows.append(f"{layer.name:<20} {type(layer).__name__:<24} {shape:<22} {params:>12,}  {flag}")
    total, trainable = count_params(model)
    rows.append(f"total parameters: {total:,}")
    rows.append(f"trainable parameters: {trainable:,}")
    rows.append(f"non-trainable parameters: {total - trainable:,}")
    return rows
