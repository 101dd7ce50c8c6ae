"""Shared fixtures: small (64 px) models with non-trivial weights, built once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


def tweak_head_biases(model, seed: int = 0) -> None:
    """Random hidden biases so the ReLU masks of fc1/fc2 are mixed (some units on, some off)."""
    rng = np.random.default_rng(seed)
    for name in ("fc1", "fc2", "logits"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, rng.normal(0.0, 0.05, size=bias.shape).astype(np.float32)])


@pytest.fixture(scope="session")
def small_model():
    from training.model.architecture import build_model

    model = build_model(input_size=64, seed=7)
    tweak_head_biases(model)
    return model


@pytest.fixture(scope="session")
def real_crops_64() -> np.ndarray:
    from training.model.check_crops import astronaut_crops

    return astronaut_crops(64)
