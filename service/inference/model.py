"""Loading one exported model: the file, its card, the ONNX contract check and a warm-up run.

Contract (docs/architecture.md): input `image` [N,224,224,3] float32 RGB 0-255; outputs `probs` [N,2] (index 1 = pain)
and `gradcam` [N,2,G,G] (one map per class in [0,1]). Anything else is refused with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime as ort

from service.errors import UserError
from service.files import file_sha256
from service.inference.provenance import provenance_problem
from service.inference.providers import BatchRunner, GpuOptions, device_of, provider_entries
from service.model_card import CARD_FILE, METADATA_KEY, MODEL_FILE, ModelCard, parse_card
from service.paths import user_cache_dir

logger = logging.getLogger(__name__)

INPUT_NAME: Final = "image"
PROBS: Final = "probs"
GRADCAM: Final = "gradcam"
INPUT_SIZE: Final = 224
N_CLASSES: Final = 2
_PROB_SUM_TOLERANCE: Final = 1e-3


class ModelLoadError(UserError):
    """A model file that cannot serve: missing, corrupt, or not honouring the contract."""


@dataclass(frozen=True)
class ServingModel:
    """A checked, warmed-up model as the engine, the API and the doctor see it, whichever backend runs it
    (`LoadedModel` here, `TritonModel` in service/inference/triton.py)."""

    card: ModelCard
    path: Path
    """The local model.onnx whose card, hash and reference set were checked."""
    providers: list[str]
    """Where it runs: the providers the session actually uses (a requested CUDA may have fallen back to CPU), or
    one entry naming the Triton server, model and instance kinds."""
    grid: int
    """Side of the Grad-CAM maps (14 at 224 px)."""
    warmup_ms: float
    loaded_at: float
    sha256: str
    """Of model.onnx (the audit log records it at every reload)."""

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [N,224,224,3] -> (probs [N,2], maps [N,2,G,G])."""
        raise NotImplementedError


ModelLoader = Callable[[Path], ServingModel]
"""Loads, checks and warms up the model of an exported folder (or .onnx file); raises ModelLoadError."""


@dataclass(frozen=True)
class LoadedModel(ServingModel):
    """A model in an ONNX Runtime session of this process."""

    session: ort.InferenceSession
    runner: BatchRunner
    """Runs a batch on the session (through IO binding on a GPU, see service/inference/providers.py)."""

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _pair(self.runner(images))


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads of one core count once); at least 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add((package, core))
    return max(1, len(cores))


def session_options(intra_op_threads: int | None = None) -> ort.SessionOptions:
    """The engine's ONNX Runtime settings, chosen for one session shared by every bed on a CPU host.

    - intra-op threads = physical cores (or `model.intra_op_threads`): the convolutions are the whole cost and
      scale with real cores; hyper-threads add contention, not throughput.
    - no spinning: by default ORT's pool threads busy-wait between operators, which on a small host burns the
      cores the beds' MediaPipe detectors, video decoding, JPEG encoding and the API need; idle pool threads now
      sleep, so the engine takes CPU only while it computes. MediaPipe is called from the bed threads (3-9 ms
      per frame, measured in bench/results/serve.json) with its own default threading, so the two overlap
      only during those short bursts instead of contending with spinning threads all the time.
    - one operator at a time (sequential execution, one inter-op thread): VGG is a chain, nothing to overlap.
    - all graph optimisations (constant folding, Conv+ReLU fusion, QDQ fusion for INT8 models).
    - memory arena and memory patterns on: the batch shapes repeat (1..max_batch), so buffers are reused.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT warnings about unused initialisers are noise here
    options.intra_op_num_threads = intra_op_threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build offers it (onnxruntime-gpu on a GPU machine), else CPU."""
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def resolve_model_file(path: Path) -> Path:
    """A model folder (holding model.onnx) or a .onnx file; anything else is refused."""
    path = Path(path)
    candidate = path / MODEL_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise ModelLoadError(f"{path}: no model file (expected a folder holding {MODEL_FILE}, or a .onnx file)")
    return candidate


def load_model(
    path: Path,
    providers: list[str] | None = None,
    intra_op_threads: int | None = None,
    gpu: GpuOptions | None = None,
    max_batch: int = 8,
) -> LoadedModel:
    """Load, check names/shapes against the contract, warm up with one dummy batch; raise ModelLoadError if bad.

    `intra_op_threads`: ONNX Runtime compute threads (None: physical cores; see `session_options`). `gpu`: options
    of the CUDA / TensorRT providers and IO binding; `max_batch`: the largest batch TensorRT's profile covers."""
    model_file = resolve_model_file(path)
    wanted = providers or default_providers()
    unknown = [p for p in wanted if p not in ort.get_available_providers()]
    if unknown:
        raise ModelLoadError(
            f"inference providers {unknown} are not available in this onnxruntime build "
            f"(available: {ort.get_available_providers()})"
        )
    options = session_options(intra_op_threads)
    gpu = gpu or GpuOptions()
    engine_cache = gpu.engine_cache_dir or user_cache_dir() / "trt-engines"
    entries = provider_entries(wanted, gpu, max_batch, INPUT_NAME, (INPUT_SIZE, INPUT_SIZE, 3), engine_cache)
    try:
        session = ort.InferenceSession(str(model_file), sess_options=options, providers=entries)
    except Exception as exc:  # ORT raises its own exception types for corrupt/unsupported files
        raise ModelLoadError(f"{model_file}: ONNX Runtime cannot load it: {_first_line(exc)}") from exc
    grid = check_contract(session, model_file)
    card = read_card(session, model_file)
    used = list(session.get_providers())
    runner = BatchRunner(session, INPUT_NAME, [PROBS, GRADCAM], device_of(used) if gpu.io_binding else None,
                         gpu.device_id)  # fmt: skip
    warmup_ms = warm_up(session, model_file)
    problem = provenance_problem(model_file, lambda images: _pair(runner(images)))
    if problem is not None:
        raise ModelLoadError(f"{model_file}: {problem}")
    logger.info(
        "model %s/%s loaded from %s on %s (warm-up %.0f ms)", card.name, card.version, model_file, used, warmup_ms
    )
    return LoadedModel(
        card=card, path=model_file, providers=used, grid=grid, warmup_ms=warmup_ms, loaded_at=time.time(),
        sha256=file_sha256(model_file), session=session, runner=runner,
    )  # fmt: skip


def _pair(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    probs, maps = outputs
    return probs, maps


def check_contract(session: ort.InferenceSession, source: Path) -> int:
    """Input/output names, types and shapes; returns the Grad-CAM grid side."""
    inputs = session.get_inputs()
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ModelLoadError(f"{source}: inputs are {[i.name for i in inputs]}, the contract needs [{INPUT_NAME!r}]")
    image = inputs[0]
    if image.type != "tensor(float)" or list(image.shape[1:]) != [INPUT_SIZE, INPUT_SIZE, 3]:
        raise ModelLoadError(
            f"{source}: input {INPUT_NAME!r} is {image.type} {image.shape}; "
            f"the contract needs float32 [N,{INPUT_SIZE},{INPUT_SIZE},3]"
        )
    outputs = {o.name: o for o in session.get_outputs()}
    for name in (PROBS, GRADCAM):
        if name not in outputs:
            raise ModelLoadError(f"{source}: output {name!r} is missing (outputs: {sorted(outputs)})")
    probs_shape = list(outputs[PROBS].shape[1:])
    if probs_shape != [N_CLASSES]:
        raise ModelLoadError(f"{source}: output {PROBS!r} has shape {outputs[PROBS].shape}, expected [N,2]")
    cam_shape = list(outputs[GRADCAM].shape[1:])
    if len(cam_shape) != 3 or cam_shape[0] != N_CLASSES or not all(isinstance(d, int) and d > 0 for d in cam_shape[1:]):
        raise ModelLoadError(f"{source}: output {GRADCAM!r} has shape {outputs[GRADCAM].shape}, expected [N,2,G,G]")
    if cam_shape[1] != cam_shape[2]:
        raise ModelLoadError(f"{source}: Grad-CAM maps are not square: {outputs[GRADCAM].shape}")
    return int(cam_shape[1])


def read_card_file(model_file: Path) -> ModelCard:
    """The card of a model file without serving it here (the Triton backend): beside it, else in its metadata."""
    if (model_file.parent / CARD_FILE).is_file():
        return read_card(None, model_file)
    try:
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"{model_file}: ONNX Runtime cannot read it: {_first_line(exc)}") from exc
    return read_card(session, model_file)


def read_card(session: ort.InferenceSession | None, model_file: Path) -> ModelCard:
    """The card beside the file, else the one stored in the ONNX metadata; a model without one is refused."""
    card_file = model_file.parent / CARD_FILE
    try:
        if card_file.is_file():
            return parse_card(card_file.read_text(encoding="utf-8"), str(card_file))
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY) if session is not None else None
    except UserError as exc:
        raise ModelLoadError(str(exc)) from exc
    if not text:
        raise ModelLoadError(f"{model_file}: no {CARD_FILE} beside it and no model card in its metadata")
    try:
        return parse_card(text, f"{model_file} metadata")
    except (UserError, json.JSONDecodeError) as exc:
        raise ModelLoadError(str(exc)) from exc


def warm_up(session: ort.InferenceSession, source: Path) -> float:
    """One dummy batch (mid-grey crop): first-run allocations happen now, and outputs are sanity-checked."""
    started = time.perf_counter()
    dummy = np.full((1, INPUT_SIZE, INPUT_SIZE, 3), 128.0, np.float32)
    try:
        probs, maps = session.run([PROBS, GRADCAM], {INPUT_NAME: dummy})
    except Exception as exc:
        raise ModelLoadError(f"{source}: warm-up inference failed: {_first_line(exc)}") from exc
    check_warm_up_outputs(np.asarray(probs), np.asarray(maps), str(source))
    return (time.perf_counter() - started) * 1000.0


def check_warm_up_outputs(probs: np.ndarray, maps: np.ndarray, source: str) -> None:
    """The warm-up batch's outputs must be a distribution and [0, 1] maps (whatever backend computed them)."""
    if not (np.all(np.isfinite(probs)) and abs(float(probs.sum()) - 1.0) <= _PROB_SUM_TOLERANCE):
        raise ModelLoadError(f"{source}: warm-up probabilities are not a distribution: {probs.tolist()}")
    if not np.all(np.isfinite(maps)) or maps.min() < -1e-4 or maps.max() > 1 + 1e-4:
        raise ModelLoadError(f"{source}: warm-up Grad-CAM maps are outside [0, 1]")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
