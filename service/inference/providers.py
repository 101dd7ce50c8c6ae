"""ONNX Runtime execution providers with their options, and how a batch is run on them.

One place turns `model.providers` + `model.gpu` into the (name, options) pairs a session is built with, so the
service and `bench/gpu.py` run the model the same way:
- CPU: no options (threads are session options, see `model.session_options`).
- CUDA: the device, cuDNN's algorithm search (EXHAUSTIVE once per batch shape: the shapes repeat, 1..max_batch),
  copies on the default stream.
- TensorRT: the device, fp16 engines when `model.gpu.fp16`, an engine cache (building an engine takes minutes;
  the cache makes every later start take seconds) and one optimisation profile covering batches 1..max_batch.

IO binding (`model.gpu.io_binding`, GPU providers only): the crops are copied to the device once per batch and the
outputs are allocated on the device by ONNX Runtime and copied back once, instead of ONNX Runtime staging every
input and output through its own temporary buffers; the float32 batch never crosses the bus twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field

CPU: Final = "CPUExecutionProvider"
CUDA: Final = "CUDAExecutionProvider"
TENSORRT: Final = "TensorrtExecutionProvider"
GPU_PROVIDERS: Final = (CUDA, TENSORRT)

ProviderEntry = tuple[str, dict[str, str]]


class GpuOptions(BaseModel):
    """`model.gpu`: options of the CUDA and TensorRT providers (ignored on CPU)."""

    model_config = ConfigDict(extra="forbid")

    device_id: int = Field(default=0, ge=0, description="CUDA device the model runs on.")
    fp16: bool = Field(
        default=False,
        description="TensorRT only: build float16 engines (typically about 2x float32's throughput on tensor-core "
        "GPUs; probabilities and Grad-CAM move a little). The model still has to reproduce its export's reference "
        "outputs within their tolerances (reference.npz) or it is refused at load; bench/gpu.py measures both.",
    )
    engine_cache_dir: Path | None = Field(
        default=None,
        description="TensorRT only: folder where built engines are kept (one per model, GPU and TensorRT version); "
        "null = ~/.cache/painwatch/trt-engines. Without a cache every start rebuilds the engine (minutes).",
    )
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = Field(
        default="EXHAUSTIVE",
        description="CUDA only: how cuDNN picks convolution algorithms. EXHAUSTIVE benchmarks once per batch shape "
        "(a few seconds at warm-up), then runs the fastest.",
    )
    io_binding: bool = Field(
        default=True,
        description="GPU providers: bind the crops and outputs through ONNX Runtime's IO binding (one copy each "
        "way per batch).",
    )


def provider_entries(
    names: list[str], gpu: GpuOptions, max_batch: int, input_name: str, input_shape: tuple[int, ...], cache_dir: Path
) -> list[ProviderEntry]:
    """The providers in priority order with their options; `input_shape` excludes the batch dimension."""
    return [(name, _options(name, gpu, max_batch, input_name, input_shape, cache_dir)) for name in names]


def _options(
    name: str, gpu: GpuOptions, max_batch: int, input_name: str, input_shape: tuple[int, ...], cache_dir: Path
) -> dict[str, str]:
    if name == CUDA:
        return {
            "device_id": str(gpu.device_id),
            "cudnn_conv_algo_search": gpu.cudnn_conv_algo_search,
            "do_copy_in_default_stream": "1",
        }
    if name == TENSORRT:
        dims = "x".join(str(d) for d in input_shape)
        return {
            "device_id": str(gpu.device_id),
            "trt_fp16_enable": "1" if gpu.fp16 else "0",
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": str(gpu.engine_cache_dir or cache_dir),
            "trt_profile_min_shapes": f"{input_name}:1x{dims}",
            "trt_profile_opt_shapes": f"{input_name}:{max_batch}x{dims}",
            "trt_profile_max_shapes": f"{input_name}:{max_batch}x{dims}",
        }
    return {}


def device_of(used_providers: list[str]) -> str | None:
    """'cuda' when the session's first provider runs on a GPU, else None (plain CPU run)."""
    return "cuda" if used_providers and used_providers[0] in GPU_PROVIDERS else None


class BatchRunner:
    """Runs a batch and returns numpy outputs, through IO binding on `device` (or on the CPU, for tests of the
    same path) or through a plain `session.run`."""

    def __init__(
        self, session: ort.InferenceSession, input_name: str, outputs: list[str], device: str | None, device_id: int = 0
    ) -> None:
        self._session = session
        self._input = input_name
        self._outputs = outputs
        self._device = device
        self._device_id = device_id

    @property
    def io_binding(self) -> bool:
        return self._device is not None

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        if self._device is None:
            return [np.asarray(o) for o in self._session.run(self._outputs, {self._input: images})]
        binding = self._session.io_binding()
        binding.bind_cpu_input(self._input, np.ascontiguousarray(images))
        for name in self._outputs:
            binding.bind_output(name, self._device, self._device_id)
        self._session.run_with_iobinding(binding)
        return [np.asarray(o) for o in binding.copy_outputs_to_cpu()]
