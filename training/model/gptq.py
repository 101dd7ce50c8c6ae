"""GPTQ rounding of INT8 convolution weights: pick each weight's integer so the layer's output moves least.

Round-to-nearest quantizes every weight on its own; its errors add up in the layer's output. GPTQ (Frantar et
al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers") rounds the
weights of an output channel one input position at a time and spreads each rounding error over the positions
not yet rounded, weighted by how the layer's inputs co-vary (the Gram matrix of the inputs on calibration
crops), which minimises ||(W - Q) X|| over those inputs. A 3x3 convolution is a matrix product over im2col
patches, so it applies as is.

The scale of every output channel is given (ONNX Runtime's per-channel symmetric scale, absmax / 127), so only
the integers change: the quantized graph, its scales and its biases stay as the quantizer wrote them. On the
demo model, round-to-nearest weights moved the logits 4x more than INT8 activations did; GPTQ integers cut
the weights' share to a fifth (README "Performance").
"""

from __future__ import annotations

from typing import Final

import numpy as np

INT8_LIMIT: Final = 127
"""Symmetric INT8 weights use -127..127 (ONNX Runtime's per-channel weights)."""
DAMPING: Final = 0.01
"""Added to the Gram matrix's diagonal, as a share of its mean: keeps the inverse stable where inputs are flat."""
BLOCK: Final = 128
"""Input positions rounded per block before the rest is updated at once (speed only, same result)."""


class PatchGram:
    """X^T X / n over the im2col patches of a stride-1 'same' convolution's inputs, added a batch at a time.

    Rows of X are the patches at every output position, columns ordered (channel, row, column) like an ONNX
    weight [Cout, Cin, kh, kw] flattened per output channel."""

    def __init__(self, channels: int, kernel: int) -> None:
        if kernel % 2 != 1:
            raise ValueError(f"PatchGram needs an odd kernel, got {kernel}")
        self.channels, self.kernel = channels, kernel
        self._sum = np.zeros((channels * kernel * kernel,) * 2)
        self._rows = 0

    def add(self, inputs: np.ndarray) -> None:
        """Add the patches of `inputs` [N, C, H, W], one image at a time."""
        if inputs.ndim != 4 or inputs.shape[1] != self.channels:
            raise ValueError(f"expected [N, {self.channels}, H, W] inputs, got {inputs.shape}")
        pad = self.kernel // 2
        for image in inputs:
            padded = np.pad(image.astype(np.float32), ((0, 0), (pad, pad), (pad, pad)))
            windows = np.lib.stride_tricks.sliding_window_view(padded, (self.kernel, self.kernel), axis=(1, 2))
            patches = windows.transpose(1, 2, 0, 3, 4).reshape(-1, self._sum.shape[0])  # (H*W, C*k*k)
            self._sum += patches.T @ patches
            self._rows += len(patches)

    @property
    def matrix(self) -> np.ndarray:
        return self._sum / max(self._rows, 1)


def round_to_nearest(weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Plain per-output-channel rounding (what the quantizer writes): weight [Cout, ...], scale [Cout]."""
    shape = (-1,) + (1,) * (weight.ndim - 1)
    return np.clip(np.round(weight / scale.reshape(shape)), -INT8_LIMIT, INT8_LIMIT).astype(np.int8)


def gptq_round(weight: np.ndarray, gram: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """INT8 integers for `weight` [Cout, ...] on the per-channel `scale` [Cout], chosen by GPTQ on `gram`."""
    w = weight.reshape(len(weight), -1).astype(np.float64).copy()
    step = np.asarray(scale, dtype=np.float64)
    if gram.shape != (w.shape[1], w.shape[1]):
        raise ValueError(f"gram is {gram.shape}; the weight has {w.shape[1]} inputs per output channel")
    h = gram.astype(np.float64).copy()
    dead = np.diag(h) == 0  # inputs that never vary carry no information: round them to 0 and skip
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices_from(h)] += DAMPING * np.mean(np.diag(h))
    inverse_root = np.linalg.cholesky(np.linalg.inv(h)).T  # upper triangular: row i holds i's update weights
    out = np.zeros_like(w)
    for start in range(0, w.shape[1], BLOCK):
        stop = min(start + BLOCK, w.shape[1])
        part, errors = w[:, start:stop].copy(), np.zeros((len(w), stop - start))
        local = inverse_root[start:stop, start:stop]
        for i in range(stop - start):
            q = np.clip(np.round(part[:, i] / step), -INT8_LIMIT, INT8_LIMIT)
            out[:, start + i] = q
            errors[:, i] = (part[:, i] - q * step) / local[i, i]
            part[:, i:] -= np.outer(errors[:, i], local[i, i:])
        w[:, stop:] -= errors @ inverse_root[start:stop, stop:]
    return out.reshape(weight.shape).astype(np.int8)


def output_error(weight: np.ndarray, integers: np.ndarray, scale: np.ndarray, gram: np.ndarray) -> float:
    """||(W - s Q) X||^2 / ||W X||^2 over the inputs behind `gram`: the layer's relative output error."""
    w = weight.reshape(len(weight), -1).astype(np.float64)
    e = w - integers.reshape(len(weight), -1) * np.asarray(scale, dtype=np.float64)[:, None]
    return float(np.sum((e @ gram) * e) / np.sum((w @ gram) * w))  # matrix products, not einsum: BLAS-fast
