"""Grad-CAM (thesis eqs. 3.6-3.8) on `conv5_3`, twice: the GradientTape reference and a forward-only graph.

Reference: alpha_k^c = spatial mean of dy_c/dA^k (y_c = pre-softmax score), CAM^c = ReLU(sum_k alpha_k^c A^k).

Forward-only (what the ONNX export contains, because tf2onnx cannot convert gradient ops): pool5 routes
each cell's gradient to exactly one conv5_3 position and GAP divides by the cell count, so
alpha_k^c = (dy_c/dg_k) / (H*W) with g the GAP vector and HxW the conv5_3 grid; dy_c/dg follows from the
dense kernels and the hidden ReLU masks (dropout is the identity at inference):
d2 = W3[:, c] * 1[h2 > 0];  d1 = (W2 d2) * 1[h1 > 0];  dy_c/dg = W1 d1.

Every map is normalised per image and class as CAM / (max + eps), so an all-zero map stays 0.
"""

from __future__ import annotations

from typing import Any, Final

import keras
import numpy as np
import tensorflow as tf

from service.vision.heatmap import overlay, upsample_to_crop
from training.model.architecture import (
    CLASS_NAMES,
    HIDDEN_1,
    HIDDEN_2,
    LAST_CONV,
    LOGITS,
    grad_cam_outputs_model,
)

__all__ = [
    "NORM_EPS",
    "ForwardGradCAM",
    "forward_gradcam",
    "gradcam_reference",
    "normalise_maps",
    "overlay",
    "upsample_to_crop",
]

NORM_EPS: Final = 1e-9
"""Added to each map's maximum before dividing: keeps all-zero maps at 0 instead of NaN."""


def normalise_maps(cam: tf.Tensor) -> tf.Tensor:
    """Divide each map (last two axes) by its maximum + NORM_EPS; input must already be >= 0."""
    peak = tf.reduce_max(cam, axis=[-2, -1], keepdims=True)
    return cam / (peak + NORM_EPS)


def _tail_layers(model: keras.Model, after: str) -> list[keras.layers.Layer]:
    names = [layer.name for layer in model.layers]
    return list(model.layers[names.index(after) + 1 :])


def gradcam_reference(model: keras.Model, images: np.ndarray | tf.Tensor, class_index: int | None = None) -> np.ndarray:
    """GradientTape Grad-CAM on conv5_3: [N, 2, H, W] for both classes, or [N, H, W] for one class.

    `images` are RGB crops, float 0-255, [N, S, S, 3]. Maps are normalised to [0, 1].
    """
    classes = range(len(CLASS_NAMES)) if class_index is None else [class_index]
    conv_model = keras.Model(model.inputs, model.get_layer(LAST_CONV).output)
    tail = _tail_layers(model, LAST_CONV)
    feature_maps = conv_model([tf.convert_to_tensor(images, tf.float32)], training=False)
    maps = []
    for c in classes:
        with tf.GradientTape() as tape:
            tape.watch(feature_maps)
            x = feature_maps
            for layer in tail:
                if layer.name == LOGITS:
                    x = layer(x, training=False)
                    break  # y_c is the pre-softmax score (thesis eq. 3.6)
                x = layer(x, training=False)
            score = x[:, c]
        grads = tape.gradient(score, feature_maps)  # per-image scores are independent, so summing is fine
        alpha = tf.reduce_mean(grads, axis=[1, 2])  # [N, K]
        cam = tf.nn.relu(tf.einsum("nhwk,nk->nhw", feature_maps, alpha))
        maps.append(normalise_maps(cam))
    stacked = tf.stack(maps, axis=1).numpy()
    return stacked if class_index is None else stacked[:, 0]


class ForwardGradCAM:
    """Image -> {"probs": [N, 2], "gradcam": [N, 2, H, W]} with no gradient ops (exportable to ONNX).

    Shares `model`'s layers and weights; call it eagerly or inside a tf.function.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.taps = grad_cam_outputs_model(model)
        self.w1 = model.get_layer(HIDDEN_1).kernel  # [K, 2048], K = conv5_3 channels
        self.w2 = model.get_layer(HIDDEN_2).kernel  # [2048, 1024]
        self.w3 = model.get_layer(LOGITS).kernel  # [1024, 2]
        grid = model.get_layer(LAST_CONV).output.shape
        self.height, self.width, self.channels = int(grid[1]), int(grid[2]), int(grid[3])

    def __call__(self, images: Any) -> dict[str, tf.Tensor]:
        feature_maps, h1, h2, _logits, probs = self.taps([images], training=False)
        n_classes = len(CLASS_NAMES)
        mask1 = tf.cast(h1 > 0, tf.float32)  # [N, 2048]
        mask2 = tf.cast(h2 > 0, tf.float32)  # [N, 1024]
        # d2[n, c, :] = W3[:, c] * 1[h2 > 0]
        d2 = mask2[:, None, :] * tf.transpose(self.w3)[None, :, :]  # [N, C, 1024]
        # Rank-2 matmuls with transpose_b: the export turns them into Gemm(transB=1) on the original
        # kernels instead of storing transposed copies.
        d1 = tf.matmul(tf.reshape(d2, [-1, d2.shape[-1]]), self.w2, transpose_b=True)  # [N*C, 2048]
        d1 = tf.reshape(d1, [-1, n_classes, d1.shape[-1]]) * mask1[:, None, :]
        grad_g = tf.matmul(tf.reshape(d1, [-1, d1.shape[-1]]), self.w1, transpose_b=True)  # [N*C, K]
        alpha = tf.reshape(grad_g, [-1, n_classes, self.channels]) / float(self.height * self.width)
        flat_maps = tf.reshape(feature_maps, [-1, self.height * self.width, self.channels])  # [N, HW, K]
        cam = tf.matmul(alpha, flat_maps, transpose_b=True)  # [N, C, HW]
        cam = tf.reshape(tf.nn.relu(cam), [-1, n_classes, self.height, self.width])
        return {"probs": tf.identity(probs, name="probs"), "gradcam": normalise_maps(cam)}


def forward_gradcam(model: keras.Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eager convenience: (probs [N, 2], maps [N, 2, H, W]) as numpy arrays."""
    out = ForwardGradCAM(model)(tf.convert_to_tensor(images, tf.float32))
    return out["probs"].numpy(), out["gradcam"].numpy()
