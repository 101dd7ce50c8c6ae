"""One shared ONNX Runtime session for all beds: contract checks, warm-up, micro-batching, atomic hot reload."""

from service.inference.engine import InferenceEngine, InferenceResult, InvalidModelOutput, ModelUnavailable
from service.inference.model import LoadedModel, ModelLoadError, default_providers, load_model

__all__ = [
    "InferenceEngine",
    "InferenceResult",
    "InvalidModelOutput",
    "LoadedModel",
    "ModelLoadError",
    "ModelUnavailable",
    "default_providers",
    "load_model",
]
