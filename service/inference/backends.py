"""Inference backends by name: `model.backend` picks how an exported model folder becomes a serving model.

- `onnxruntime` (default): one ONNX Runtime session in this process (service/inference/model.py);
- `triton`: an NVIDIA Triton Inference Server serving the same file (service/inference/triton.py).

Both go through the same checks (contract, SHA-256, reference set, warm-up) and the same engine (micro-batching,
atomic hot reload, supervision); only where `run` computes differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

from service.inference.model import ModelLoader, ServingModel, load_model
from service.inference.triton import TritonModel, TritonStatus, load_triton_model

if TYPE_CHECKING:
    from service.config.settings import ModelConfig

Backend = Literal["onnxruntime", "triton"]


def _onnxruntime(config: ModelConfig) -> ModelLoader:
    return lambda path: load_model(path, config.providers, config.intra_op_threads, config.gpu, config.max_batch)


def _triton(config: ModelConfig) -> ModelLoader:
    return lambda path: load_triton_model(path, config.triton, config.max_batch)


BACKENDS: Final[dict[str, Callable[[ModelConfig], ModelLoader]]] = {"onnxruntime": _onnxruntime, "triton": _triton}


def model_loader(config: ModelConfig) -> ModelLoader:
    """The loader of the configured backend."""
    return BACKENDS[config.backend](config)


def backend_problem(model: ServingModel) -> str | None:
    """Why the serving backend does not answer now (a Triton whose circuit is open), or None; the supervisor's
    `triton_unavailable` probe."""
    return model.backend_problem() if isinstance(model, TritonModel) else None


def triton_status(model: ServingModel) -> TritonStatus | None:
    """Which Triton serves the beds and whether it answers (None: the model runs in this process)."""
    return model.status() if isinstance(model, TritonModel) else None
