"""`painwatch models triton-repo`: an NVIDIA Triton model repository from exported models.

For each exported folder `<root>/<name>/<version>/` (checked first exactly as the service checks a model: contract,
SHA-256, reference set, warm-up; a model the service would refuse is never published), the repository gets

    <repo>/<name>/config.pbtxt          written with Triton's own protobuf schema (tritonclient's model_config_pb2)
    <repo>/<name>/<version>/model.onnx  a copy of the checked file
    <repo>/<name>/<version>/model_card.json  its card (Triton ignores it; people and tools reading the repository)
    <repo>/<name>/<version>/model.py    only for --backend python

config.pbtxt: the model contract as Triton tensors (image FP32 [-1,224,224,3] -> probs [-1,2], gradcam
[-1,2,G,G]), `max_batch_size`, dynamic batching (crops of several painwatch nodes share a batch; preferred sizes
the powers of two up to max_batch_size), the instance group (GPU or CPU), optionally TensorRT with FP16 as the ONNX
Runtime backend's GPU accelerator (the service's reference-set check through Triton then guards the numbers), every
version present (`version_policy: all`) and, per version, its model.onnx SHA-256 as
parameter `painwatch_sha256_v<version>`: the service refuses a Triton model whose recorded hash is not its local
file's. Backends:
- `onnxruntime` (default): Triton's ONNX Runtime backend, the usual choice on a GPU server (NGC tritonserver image);
- `python`: Triton's Python backend running onnxruntime (model.py below), for a Triton build that has only that
  backend, like the one in the nvidia-pytriton wheel; the stub's Python needs numpy and onnxruntime.
Everything is written beside the target and renamed into place, so Triton never reads a half-written file.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from service.errors import UserError
from service.files import atomic_path, file_sha256
from service.inference.model import GRADCAM, INPUT_NAME, INPUT_SIZE, N_CLASSES, PROBS, ModelLoadError, load_model
from service.inference.triton import SHA_PARAMETER_PREFIX, sha_parameter, triton_name_and_version
from service.model_card import CARD_FILE, MODEL_FILE

logger = logging.getLogger(__name__)

CONFIG_FILE: Final = "config.pbtxt"
PYTHON_MODEL_FILE: Final = "model.py"
_READABLE: Final = 0o644
"""Triton usually runs as its own user; the repository holds no patient data."""

TritonBackend = Literal["onnxruntime", "python"]
InstanceKind = Literal["gpu", "cpu"]

PYTHON_MODEL: Final = '''"""Triton Python-backend model written by `painwatch models triton-repo --backend python`:
runs this version's model.onnx with onnxruntime (CPU). The stub's Python needs numpy and onnxruntime."""

from pathlib import Path

import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUT, OUTPUTS = "image", ["probs", "gradcam"]


class TritonPythonModel:
    def initialize(self, args):
        model_file = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])

    def execute(self, requests):
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, INPUT).as_numpy()
            try:
                outputs = self.session.run(OUTPUTS, {INPUT: images})
            except Exception as exc:  # one bad request fails alone
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
                continue
            tensors = [pb_utils.Tensor(name, value) for name, value in zip(OUTPUTS, outputs)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
'''


@dataclass(frozen=True)
class RepoOptions:
    backend: TritonBackend = "onnxruntime"
    kind: InstanceKind = "gpu"
    instances: int = 1
    """Model instances per device (GPU) or in all (CPU)."""
    max_batch: int = 32
    """Triton's max_batch_size: at least every painwatch node's model.max_batch."""
    max_queue_delay_us: int = 500
    """How long Triton's dynamic batcher holds a request to batch it with others (several nodes' crops)."""
    tensorrt_fp16: bool = False
    """TensorRT with FP16 as the ONNX Runtime backend's GPU accelerator (backend onnxruntime, kind gpu only)."""


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    sha256: str
    folder: Path
    """<repo>/<name>"""


def write_repository(models: Sequence[Path], repo: Path, options: RepoOptions) -> list[Published]:
    """Check and publish each exported model folder into the Triton repository `repo`; returns what was written."""
    if options.max_batch < 1 or options.instances < 1 or options.max_queue_delay_us < 0:
        raise UserError("--max-batch and --instances must be at least 1, --max-queue-delay-us at least 0")
    if options.tensorrt_fp16 and (options.backend != "onnxruntime" or options.kind != "gpu"):
        raise UserError("--tensorrt-fp16 needs --backend onnxruntime and --kind gpu (TensorRT runs on the GPU)")
    checked = []
    for folder in models:
        model_file = Path(folder) / MODEL_FILE
        try:
            name, version = triton_name_and_version(model_file)
            load_model(folder, ["CPUExecutionProvider"])  # the service's own checks; nothing bad is published
        except ModelLoadError as exc:
            raise UserError(f"{folder}: not published: {exc}") from exc
        checked.append((name, version, model_file))
    published = []
    for name, version, model_file in checked:
        target = repo / name / version / MODEL_FILE
        with atomic_path(target) as tmp:
            shutil.copyfile(model_file, tmp)
            tmp.chmod(_READABLE)
        card = model_file.parent / CARD_FILE
        if card.is_file():
            with atomic_path(target.parent / CARD_FILE) as tmp:
                shutil.copyfile(card, tmp)
                tmp.chmod(_READABLE)
        if options.backend == "python":
            with atomic_path(target.parent / PYTHON_MODEL_FILE) as tmp:
                tmp.write_text(PYTHON_MODEL, encoding="utf-8")
                tmp.chmod(_READABLE)
        sha = file_sha256(target)
        write_config(repo / name, options)
        published.append(Published(name, version, sha, repo / name))
        logger.info("published %s/%s to %s (sha256 %s...)", name, version, repo / name, sha[:16])
    return published


def write_config(model_folder: Path, options: RepoOptions) -> Path:
    """config.pbtxt for every version folder under `model_folder` (their grids must agree), written atomically."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    versions = sorted((v for v in model_folder.iterdir() if v.name.isdigit() and (v / MODEL_FILE).is_file()),
                      key=lambda v: int(v.name))  # fmt: skip
    grids = {_grid(v / MODEL_FILE) for v in versions}
    if len(grids) != 1:
        raise UserError(f"{model_folder}: its versions' Grad-CAM grids differ ({sorted(grids)}); one Triton model "
                        "has one output shape: export a different grid under another name")  # fmt: skip
    grid = grids.pop()
    config = pb.ModelConfig(name=model_folder.name, backend=options.backend, max_batch_size=options.max_batch)
    config.version_policy.all.SetInParent()
    config.input.add(name=INPUT_NAME, data_type=pb.TYPE_FP32, dims=[INPUT_SIZE, INPUT_SIZE, 3])
    config.output.add(name=PROBS, data_type=pb.TYPE_FP32, dims=[N_CLASSES])
    config.output.add(name=GRADCAM, data_type=pb.TYPE_FP32, dims=[N_CLASSES, grid, grid])
    config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_us
    config.dynamic_batching.preferred_batch_size.extend(preferred_batch_sizes(options.max_batch))
    if options.tensorrt_fp16:
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
        accelerator.parameters["precision_mode"] = "FP16"
    kind = pb.ModelInstanceGroup.KIND_GPU if options.kind == "gpu" else pb.ModelInstanceGroup.KIND_CPU
    config.instance_group.add(kind=kind, count=options.instances)
    for version in versions:
        config.parameters[sha_parameter(version.name)].string_value = file_sha256(version / MODEL_FILE)
    text = f"# Written by `painwatch models triton-repo` ({SHA_PARAMETER_PREFIX}*: model.onnx SHA-256 per version)\n"
    text += text_format.MessageToString(config)
    target = model_folder / CONFIG_FILE
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(_READABLE)
    return target


def preferred_batch_sizes(max_batch: int) -> list[int]:
    """Powers of two from 2 up to max_batch (and max_batch itself): the sizes the dynamic batcher aims for."""
    sizes = [2**i for i in range(1, max_batch.bit_length()) if 2**i < max_batch]
    return [*sizes, max_batch] if max_batch > 1 else []


def read_config(path: Path) -> object:
    """Parse a config.pbtxt with Triton's schema (a typo or an unknown field raises)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    return text_format.Parse(Path(path).read_text(encoding="utf-8"), pb.ModelConfig())


def _grid(model_file: Path) -> int:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    output = next(o for o in session.get_outputs() if o.name == GRADCAM)
    return int(output.shape[-1])
