"""Checkpoint -> `exported_models/<name>/<version>/` with `model.onnx` (probs + Grad-CAM) and `model_card.json`.

Nothing is written until the ONNX file has been loaded with ONNX Runtime and matched against Keras
(probabilities) and the GradientTape Grad-CAM (maps) on real face crops; the folder appears by rename.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import keras
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

from service.errors import UserError
from service.files import atomic_dir
from service.inference.provenance import write_provenance
from service.model_card import CARD_FILE, METADATA_KEY, MODEL_FILE, DatasetSummary, ModelCard, TensorSpec
from service.vision.crop import CropSpec
from training.model import architecture
from training.model.check_crops import check_images, check_labels
from training.model.checkpoint import Checkpoint, load_checkpoint
from training.model.fp16_weights import Fp16Limits
from training.model.gradcam import NORM_EPS, ForwardGradCAM, gradcam_reference
from training.model.onnx_graph import dedupe_transposed_weights, set_metadata

if TYPE_CHECKING:
    from training.model.int8_blocks import Int8BlocksLimits

logger = logging.getLogger(__name__)

OPSET: Final = 17
INPUT_NAME: Final = "image"
DEMO_USE: Final = "demonstration only, not for clinical use"
CLINICAL_USE: Final = (
    "research decision support for infant pain assessment from face crops; a frame probability is not a "
    "clinical score and does not replace a nurse's assessment"
)


@dataclass(frozen=True)
class Tolerances:
    probs: float = 1e-4
    """Max |ONNX - Keras| over all probabilities."""
    maps: float = 1e-3
    """Max |ONNX - GradientTape| over all Grad-CAM map cells."""


@dataclass
class ParityReport:
    images: str
    n_images: int
    probs_max_abs: float
    maps_max_abs: float
    keras_forward_maps_max_abs: float
    """The forward-only formulation in Keras against the tape: separates maths errors from conversion errors."""

    def failures(self, tol: Tolerances) -> list[str]:
        problems = []
        if not self.probs_max_abs <= tol.probs:  # `not <=` also catches NaN
            problems.append(
                f"probabilities differ from Keras by {self.probs_max_abs:.3g} (limit {tol.probs:g}, "
                f"missed by {self.probs_max_abs - tol.probs:.3g})"
            )
        if not self.maps_max_abs <= tol.maps:
            problems.append(
                f"Grad-CAM maps differ from the GradientTape reference by {self.maps_max_abs:.3g} "
                f"(limit {tol.maps:g}, missed by {self.maps_max_abs - tol.maps:.3g})"
            )
        return problems


class ParityError(UserError):
    """The converted graph does not reproduce Keras closely enough; nothing was written."""


@dataclass
class ExportOptions:
    name: str
    version: str
    check_dataset: Path | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    overwrite: bool = False
    command: str = ""
    contract_size: int | None = architecture.INPUT_SIZE
    """Required input size (the service contract); None lets tests export small models."""
    int8: bool = False
    fp16_weights: bool = False
    """Store large weights as float16 (half the file), computing in float32; checked against the fp32 graph."""
    fp16_limits: Fp16Limits = field(default_factory=Fp16Limits)
    """How far float16 weights may move the outputs (defaults 2e-3 probabilities, 2e-2 maps)."""
    calibration: Path | None = None
    max_f1_drop: float = 0.02
    int8_blocks: bool = False
    """VGG blocks 1-4 in INT8, block 5 and the head (what Grad-CAM reads) in float32; needs `calibration`."""
    int8_blocks_limits: Int8BlocksLimits | None = None
    """None: the defaults (the CLI offers no other); benchmarks may pass looser ones, recorded in the card."""


@dataclass
class ExportResult:
    out_dir: Path
    onnx_bytes: int
    parameters: int
    parity: ParityReport
    card: ModelCard
    seconds: float
    quantization: dict[str, Any] | None = None


def export_checkpoint(checkpoint_path: Path, out_dir: Path, options: ExportOptions) -> ExportResult:
    """Convert, check, and write `out_dir/model.onnx` + `model_card.json` atomically."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_target(out_dir, options.overwrite)
    checkpoint = load_checkpoint(checkpoint_path)
    size = checkpoint.input_size
    if options.contract_size is not None and size != options.contract_size:
        raise UserError(
            f"{checkpoint_path}: model input is {size}x{size}; the service contract needs "
            f"{options.contract_size}x{options.contract_size}"
        )
    model = checkpoint.model
    proto = convert_to_onnx(model)
    images, source = check_images(size, options.check_dataset)
    parity = check_parity(model, proto.SerializeToString(), images, source)
    problems = parity.failures(options.tolerances)
    if problems:
        raise ParityError("ONNX parity check failed; nothing was written: " + "; ".join(problems))
    logger.info(
        "parity ok on %s: probs %.2g, maps %.2g (keras forward-only %.2g)",
        source,
        parity.probs_max_abs,
        parity.maps_max_abs,
        parity.keras_forward_maps_max_abs,
    )
    payload, quantization = proto.SerializeToString(), None
    check_modes(options.int8, options.int8_blocks, options.fp16_weights)
    if options.int8_blocks:
        from training.model.int8_blocks import quantize_int8_blocks

        labels = check_labels(options.check_dataset)
        payload, quantization = quantize_int8_blocks(
            payload,
            options.calibration,
            images,
            size,
            options.int8_blocks_limits,
            labels,
            float16_storage=options.fp16_weights,
        )
    elif options.int8:
        from training.model.quantize import quantize_int8  # only INT8 exports need the quantizer

        payload, quantization = quantize_int8(payload, options.calibration, size, options.max_f1_drop)
    elif options.fp16_weights:
        from training.model.fp16_weights import fp16_deviation, to_fp16_weights

        halved, count = to_fp16_weights(proto)
        quantization = fp16_deviation(payload, halved.SerializeToString(), images, options.fp16_limits)
        quantization["tensors_converted"] = count
        payload = halved.SerializeToString()
    card = build_card(checkpoint, options, parity, quantization)
    final = onnx.load_from_string(payload)
    set_metadata(final, METADATA_KEY, card.model_dump_json())
    data = final.SerializeToString()
    _write(out_dir, data, card, options.overwrite, images)
    total, _ = architecture.count_params(model)
    seconds = time.perf_counter() - started
    logger.info("wrote %s (%.1f MB) in %.0f s", out_dir / MODEL_FILE, len(data) / 1e6, seconds)
    return ExportResult(out_dir, len(data), total, parity, card, seconds, quantization)


def check_modes(int8: bool, int8_blocks: bool, fp16_weights: bool) -> None:
    """--int8 stands alone; --fp16-weights alone or with --int8-blocks (float16 storage of its float32 part)."""
    if int8 and (int8_blocks or fp16_weights):
        raise UserError("--int8 cannot be combined with --int8-blocks or --fp16-weights")


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise UserError(f"{out_dir}: already exists; choose a new version folder or pass --overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder")


def convert_to_onnx(model: keras.Model) -> onnx.ModelProto:
    """tf2onnx (opset 17) of the forward-only Grad-CAM graph: input `image`, outputs `probs`, `gradcam`."""
    size = architecture.input_size_of(model)
    forward = ForwardGradCAM(model)
    signature = [tf.TensorSpec([None, size, size, 3], tf.float32, name=INPUT_NAME)]
    function = tf.function(lambda image: forward(image), input_signature=signature)
    started = time.perf_counter()
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=OPSET)
    dedupe_transposed_weights(proto)
    names = sorted(o.name for o in proto.graph.output)
    if names != ["gradcam", "probs"] or [i.name for i in proto.graph.input] != [INPUT_NAME]:
        raise RuntimeError(f"unexpected ONNX signature: inputs {proto.graph.input}, outputs {names}")
    proto.producer_name = "painwatch"
    proto.doc_string = "painwatch infant pain model: probs [N,2] (1 = pain) and Grad-CAM [N,2,H,W]"
    logger.info("converted to ONNX in %.0f s", time.perf_counter() - started)
    return proto


def check_parity(model: keras.Model, onnx_bytes: bytes, images: np.ndarray, source: str) -> ParityReport:
    """Max deviations of ONNX Runtime from Keras probabilities and the GradientTape maps."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    onnx_probs, onnx_maps = run_session(session, images)
    keras_out = ForwardGradCAM(model)(tf.constant(images))
    keras_probs, keras_maps = keras_out["probs"].numpy(), keras_out["gradcam"].numpy()
    reference = gradcam_reference(model, images)
    return ParityReport(
        images=source,
        n_images=len(images),
        probs_max_abs=float(np.max(np.abs(onnx_probs - keras_probs))),
        maps_max_abs=float(np.max(np.abs(onnx_maps - reference))),
        keras_forward_maps_max_abs=float(np.max(np.abs(keras_maps - reference))),
    )


def run_session(session: ort.InferenceSession, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs, maps = session.run(["probs", "gradcam"], {INPUT_NAME: images.astype(np.float32)})
    return np.asarray(probs), np.asarray(maps)


def build_card(
    checkpoint: Checkpoint, options: ExportOptions, parity: ParityReport, quantization: dict[str, Any] | None
) -> ModelCard:
    """The model card from the checkpoint's training info plus what the export measured."""
    info, meta, model = checkpoint.info, checkpoint.meta, checkpoint.model
    size = checkpoint.input_size
    grid = int(model.get_layer(architecture.LAST_CONV).output.shape[1])
    demo = bool(info.get("demo", False))
    warnings = list(info.get("warnings", []))
    if not info:
        warnings.append("the checkpoint carries no training information (checkpoint.json missing or empty)")
    backbone = info.get("backbone_weights")
    if backbone is None:
        warnings.append("no VGG-Face backbone weights were loaded: the base was randomly initialised")
    total, trainable = architecture.count_params(model)
    hyper = dict(info.get("hyperparameters", {}))
    for key in ("l1", "dropout"):
        if meta.get(key) is not None:
            hyper.setdefault(key, meta[key])
    return ModelCard(
        name=options.name,
        version=options.version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        git_commit=git_commit(),
        demo=demo,
        intended_use=str(info.get("intended_use") or (DEMO_USE if demo else CLINICAL_USE)),
        class_names=list(architecture.CLASS_NAMES),
        positive_class=1,
        architecture={
            "name": "VGG-Face VGG-16 (keras-vggface layout) + GAP-2048-1024-2 head (thesis 4.3.2)",
            "input_size": size,
            "parameters": total,
            "trainable_parameters": trainable,
            "gradcam_layer": architecture.LAST_CONV,
            "opset": OPSET,
        },
        inputs=[TensorSpec(name=INPUT_NAME, shape=["N", size, size, 3], description="RGB face crop, 0-255")],
        outputs=[
            TensorSpec(name="probs", shape=["N", 2], description="softmax; index 1 = pain"),
            TensorSpec(
                name="gradcam",
                shape=["N", 2, grid, grid],
                description=f"Grad-CAM on conv5_3 per class (pre-softmax score), each map / (max + {NORM_EPS:g})",
            ),
        ],
        preprocessing={
            "in_graph": True,
            "input": f"RGB float32 0-255, {size}x{size} face crop",
            "steps": ["RGB -> BGR", "subtract VGG-Face mean (B, G, R)"],
            "mean_bgr": list(architecture.VGGFACE_MEAN_BGR),
        },
        crop=dict(info.get("crop") or CropSpec(size=size).as_dict()),
        detector=info.get("detector"),
        datasets=[DatasetSummary.model_validate(d) for d in info.get("datasets", [])],
        cv_metrics=dict(info.get("cv_metrics", {})),
        hyperparameters=hyper,
        backbone_weights=backbone,
        quantization=quantization,
        export_checks={"parity": asdict(parity), "tolerances": asdict(options.tolerances)},
        warnings=warnings,
        command=options.command,
    )


def git_commit() -> str | None:
    """HEAD of the repository holding this code, or None outside git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _write(out_dir: Path, onnx_data: bytes, card: ModelCard, overwrite: bool, reference_images: np.ndarray) -> None:
    """Build the folder under a temporary name and rename it into place (replacing it with --overwrite), with the
    file's sha256 and the check images as its reference set (the service re-runs them before serving it)."""
    old: Path | None = None
    if out_dir.exists() and overwrite:
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
        old.rmdir()
    with atomic_dir(out_dir.with_name(out_dir.name + ".new") if old else out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
        (tmp / MODEL_FILE).write_bytes(onnx_data)
        (tmp / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        json.loads((tmp / CARD_FILE).read_text(encoding="utf-8"))  # the card must round-trip
        session = ort.InferenceSession(onnx_data, providers=["CPUExecutionProvider"])
        write_provenance(tmp, tmp / MODEL_FILE, reference_images, lambda images: run_session(session, images))
    if old is not None:
        out_dir.rename(old)
        out_dir.with_name(out_dir.name + ".new").rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
