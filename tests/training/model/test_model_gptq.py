"""GPTQ rounding (`training/model/gptq.py`): the Gram matrix of conv patches and the integers it chooses."""

from __future__ import annotations

import numpy as np
import pytest

from training.model.gptq import PatchGram, gptq_round, output_error, round_to_nearest


def _conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Direct stride-1 'same' convolution, [N, C, H, W] * [Co, C, k, k] -> [N, Co, H, W] (the definition)."""
    k = w.shape[-1]
    padded = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    out = np.zeros((x.shape[0], w.shape[0], x.shape[2], x.shape[3]))
    for i in range(k):
        for j in range(k):
            window = padded[:, :, i : i + x.shape[2], j : j + x.shape[3]]
            out += np.einsum("nchw,oc->nohw", window, w[:, :, i, j])
    return out


def _correlated_inputs(rng: np.random.Generator, n: int = 6, c: int = 4, size: int = 9) -> np.ndarray:
    base = rng.normal(size=(n, 1, size, size))
    return (base + 0.3 * rng.normal(size=(n, c, size, size))).astype(np.float32)  # channels share most signal


def test_the_gram_matrix_gives_the_convolutions_mean_squared_output() -> None:
    rng = np.random.default_rng(0)
    x, w = _correlated_inputs(rng), rng.normal(size=(3, 4, 3, 3))
    gram = PatchGram(channels=4, kernel=3)
    gram.add(x[:2])
    gram.add(x[2:])  # batches add up
    y = _conv_same(x.astype(np.float64), w)
    per_position = np.mean(np.sum(y**2, axis=1))  # columns ordered like the ONNX weight, or this fails
    assert np.sum((w.reshape(3, -1) @ gram.matrix) * w.reshape(3, -1)) == pytest.approx(per_position, rel=1e-5)


def test_patch_gram_refuses_inputs_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"expected \[N, 4, H, W\]"):
        PatchGram(4, 3).add(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="odd kernel"):
        PatchGram(4, 2)


def test_gptq_cuts_the_output_error_of_nearest_rounding_on_correlated_inputs() -> None:
    rng = np.random.default_rng(1)
    x = _correlated_inputs(rng, n=8)
    w = rng.normal(size=(16, 4, 3, 3))
    w[:, :, 1, 1] *= 8  # a large centre tap per channel makes the step coarse for the others, as in real kernels
    scale = np.abs(w).reshape(16, -1).max(axis=1) / 127
    gram = PatchGram(4, 3)
    gram.add(x)
    nearest, chosen = round_to_nearest(w, scale), gptq_round(w, gram.matrix, scale)
    assert chosen.dtype == np.int8 and chosen.shape == w.shape and np.abs(chosen.astype(int)).max() <= 127
    assert not np.array_equal(chosen, nearest)
    before, after = output_error(w, nearest, scale, gram.matrix), output_error(w, chosen, scale, gram.matrix)
    assert after < 0.5 * before, (before, after)
    # checked against the convolution itself, not only the Gram's quadratic form
    step = scale[:, None, None, None]
    y = _conv_same(x.astype(np.float64), w)
    errors = [np.mean((_conv_same(x.astype(np.float64), q * step) - y) ** 2) for q in (nearest, chosen)]
    assert errors[1] < 0.5 * errors[0]


def test_with_uncorrelated_inputs_there_is_nothing_to_compensate_and_gptq_rounds_to_nearest() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 2, 3, 3))
    scale = np.abs(w).reshape(5, -1).max(axis=1) / 127
    assert np.array_equal(gptq_round(w, np.eye(18), scale), round_to_nearest(w, scale))


def test_inputs_that_never_vary_get_zero_weights() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 1, 3, 3))
    gram = np.eye(9)
    gram[4, 4] = 0.0  # the centre input is always 0
    chosen = gptq_round(w, gram, np.abs(w).reshape(2, -1).max(axis=1) / 127)
    assert np.all(chosen[:, 0, 1, 1] == 0) and np.any(chosen != 0)
