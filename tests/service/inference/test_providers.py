"""Execution-provider options and the IO-binding path (run on the CPU here: same code as on a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from pydantic import ValidationError

from service.inference.model import GRADCAM, INPUT_NAME, PROBS, resolve_model_file, session_options
from service.inference.providers import (
    CPU,
    CUDA,
    TENSORRT,
    BatchRunner,
    GpuOptions,
    device_of,
    provider_entries,
)

SHAPE = (224, 224, 3)


def test_cpu_has_no_options_and_gpu_providers_get_theirs(tmp_path: Path) -> None:
    gpu = GpuOptions(device_id=1, fp16=True)
    entries = dict(provider_entries([TENSORRT, CUDA, CPU], gpu, 8, INPUT_NAME, SHAPE, tmp_path / "trt"))
    assert list(entries) == [TENSORRT, CUDA, CPU]
    assert entries[CPU] == {}
    assert entries[CUDA] == {"device_id": "1", "cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}
    trt = entries[TENSORRT]
    assert trt["trt_fp16_enable"] == "1"
    assert trt["trt_engine_cache_enable"] == "1"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert trt["trt_profile_min_shapes"] == "image:1x224x224x3"
    assert trt["trt_profile_max_shapes"] == "image:8x224x224x3"


def test_an_engine_cache_dir_in_the_config_wins(tmp_path: Path) -> None:
    gpu = GpuOptions(engine_cache_dir=tmp_path / "engines")
    (entry,) = provider_entries([TENSORRT], gpu, 4, INPUT_NAME, SHAPE, tmp_path / "default")
    assert entry[1]["trt_engine_cache_path"] == str(tmp_path / "engines")
    assert entry[1]["trt_fp16_enable"] == "0"


def test_only_a_gpu_provider_first_means_a_device() -> None:
    assert device_of([CUDA, CPU]) == "cuda"
    assert device_of([TENSORRT, CUDA, CPU]) == "cuda"
    assert device_of([CPU]) is None


def test_io_binding_gives_the_plain_run_outputs(model_dir: Path) -> None:
    session = ort.InferenceSession(str(resolve_model_file(model_dir)), sess_options=session_options(1), providers=[CPU])
    images = np.random.default_rng(3).uniform(0, 255, (3, *SHAPE)).astype(np.float32)
    plain = BatchRunner(session, INPUT_NAME, [PROBS, GRADCAM], device=None)
    bound = BatchRunner(session, INPUT_NAME, [PROBS, GRADCAM], device="cpu")
    assert not plain.io_binding and bound.io_binding
    (p1, m1), (p2, m2) = plain(images), bound(images)
    assert p1.shape == (3, 2) and m1.shape[:2] == (3, 2)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(m1, m2)


def test_gpu_options_are_strict() -> None:
    with pytest.raises(ValidationError, match="fp61"):
        GpuOptions.model_validate({"fp61": True})
    with pytest.raises(ValidationError, match="cudnn_conv_algo_search"):
        GpuOptions.model_validate({"cudnn_conv_algo_search": "FASTEST"})
