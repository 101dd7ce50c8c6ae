"""Benchmark the model's precisions on one checkpoint exported in this run: fp32, fp16 weights, INT8 blocks 1-4, INT8.

A thesis-model checkpoint (`--checkpoint`, e.g. the demo model's `build/demo-model/run/final` after `make
demo-model`; without it, one with RANDOM weights) is exported with `painwatch export`'s own code twice: float32
and `--int8-blocks` (written to --models-dir, for bench/serve.py). float16-weights and full INT8 are made from the
same float32 graph with the export's functions. For each: latency at batch 1/4/8 (variants interleaved, so machine
load hits all alike; compare the ratios, not the absolute times), F1 against the crops' labels and
Grad-CAM/probability deviation from float32 on the same crops (`--check-dataset`, at most 128, else `--dataset`).
With random weights F1 says nothing about pain; the deviations are what matter.

    .venv/bin/python bench/model.py [--dataset synth/dataset.csv] [--models-dir /tmp/painwatch-bench-models]
    .venv/bin/python bench/model.py --checkpoint build/demo-model/run/final \
        --dataset build/demo-model/cohort/crops/dataset.csv \
        --check-dataset build/demo-model/unseen-seed77-wide/crops/dataset.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402

from service.errors import UserError  # noqa: E402
from service.inference.model import physical_cores, session_options  # noqa: E402
from training.model.check_crops import astronaut_crops, balanced_sample, load_crops, read_dataset  # noqa: E402
from training.model.int8_blocks import Int8BlocksLimits, deviation  # noqa: E402

BATCHES = (1, 4, 8)
VARIANTS = ("fp32", "fp16_weights", "int8_blocks", "int8")


def crop_dataset(folder: Path, n: int = 48) -> Path:
    """Real face crops (the astronaut photo at shifted, scaled boxes, some mirrored), 8 groups, both labels."""
    from skimage import data

    from service.vision.crop import CropSpec, crop_face
    from service.vision.detectors import FaceBox
    from service.vision.images import write_rgb

    folder.mkdir(parents=True, exist_ok=True)
    photo = data.astronaut()
    rows = []
    for i in range(n):
        side = 85 + (i * 7) % 30
        box = FaceBox(165 + (i * 5) % 20, 70 + (i * 3) % 18, side, side, 1.0)
        crop, _ = crop_face(photo, box, CropSpec(224))
        if i % 3 == 0:
            crop = np.ascontiguousarray(crop[:, ::-1])
        write_rgb(folder / f"c{i}.png", crop)
        rows.append({"crop_path": f"c{i}.png", "infant_id": f"g{i % 8}", "label": ["nonpain", "pain"][(i // 8) % 2]})
    with open(folder / "dataset.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["crop_path", "infant_id", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "dataset.csv"


def random_checkpoint(models_dir: Path, seed: int) -> Path:
    """A checkpoint of the thesis model with random weights (mixed ReLU masks in the head, as the tests do)."""
    from training.model.architecture import build_model
    from training.model.checkpoint import save_checkpoint

    model = build_model(seed=seed)
    rng = np.random.default_rng(seed)
    for name in ("fc1", "fc2", "logits"):
        kernel, bias = model.get_layer(name).get_weights()
        model.get_layer(name).set_weights([kernel, rng.normal(0.0, 0.05, size=bias.shape).astype(np.float32)])
    checkpoint = models_dir / "checkpoint"
    save_checkpoint(model, checkpoint, {"demo": True, "warnings": ["benchmark: random weights"]})
    return checkpoint


def export_models(dataset: Path, check: Path, models_dir: Path, checkpoint: Path) -> dict[str, Any]:
    """Checkpoint -> fp32 and int8-blocks exports, through `export_checkpoint`."""
    from training.model.export import ExportOptions, export_checkpoint

    out: dict[str, Any] = {}
    blocks = {"int8_blocks": True, "calibration": dataset}
    unchecked = {**blocks, "int8_blocks_limits": Int8BlocksLimits(1.0, 1.0, 1.0, 0.0)}
    for kind, extra in (("fp32", {}), ("int8_blocks", blocks), ("int8_blocks_unchecked", unchecked)):
        if kind == "int8_blocks_unchecked" and out["int8_blocks"]["path"] is not None:
            continue  # only needed when the default limits refused the model
        target = models_dir / kind
        options = ExportOptions(name="bench", version=kind, overwrite=True, check_dataset=check, **extra)
        started = time.perf_counter()
        try:
            result = export_checkpoint(checkpoint, target, options)
        except UserError as exc:
            out[kind] = {"path": None, "refused": str(exc)}
            continue
        out[kind] = {
            "path": str(target),
            "mb": result.onnx_bytes / 1e6,
            "export_s": time.perf_counter() - started,
            "quantization": result.quantization,
        }
    if "int8_blocks_unchecked" in out:
        out["int8_blocks_unchecked"]["note"] = (
            "the same quantization exported with its limits switched off (recorded in its card), because the "
            "default limits refused it; for speed benchmarks only, never to serve"
        )
    return out


def build(dataset: Path, check: Path, models_dir: Path, checkpoint: Path | None, seed: int) -> None:
    """In a child process (TensorFlow's memory goes with it): exports, then the four variants as ONNX files."""
    from training.model.fp16_weights import to_fp16_weights
    from training.model.quantize import quantize_int8

    exports = export_models(dataset, check, models_dir, checkpoint or random_checkpoint(models_dir, seed))
    fp32 = Path(exports["fp32"]["path"], "model.onnx").read_bytes()
    import onnx

    half, _ = to_fp16_weights(onnx.load_from_string(fp32))
    int8, _ = quantize_int8(fp32, dataset, 224, max_f1_drop=1.0)  # the bench reports F1; it refuses nothing
    served = exports["int8_blocks"]["path"] or exports["int8_blocks_unchecked"]["path"]
    blocks = Path(served, "model.onnx").read_bytes()
    folder = models_dir / "variants"
    folder.mkdir(exist_ok=True)
    for kind, data in (("fp32", fp32), ("fp16_weights", half.SerializeToString()), ("int8_blocks", blocks),
                       ("int8", int8)):  # fmt: skip
        (folder / f"{kind}.onnx").write_bytes(data)
    (models_dir / "exports.json").write_text(json.dumps(exports, indent=2, default=str))


def latency(models: dict[str, bytes], images: np.ndarray, rounds: dict[int, int]) -> dict[str, Any]:
    """Per variant and batch size: p50/p95 ms per batch and frames/s at p50, interleaved round by round."""
    sessions = {
        k: ort.InferenceSession(v, sess_options=session_options(), providers=["CPUExecutionProvider"])
        for k, v in models.items()
    }
    times: dict[str, dict[int, list[float]]] = {k: {b: [] for b in BATCHES} for k in models}
    for batch in BATCHES:
        feed = {"image": images[:batch].astype(np.float32)}
        for session in sessions.values():
            session.run(None, feed)  # warm-up for this shape
        for _ in range(rounds[batch]):
            for kind, session in sessions.items():
                started = time.perf_counter()
                session.run(None, feed)
                times[kind][batch].append(time.perf_counter() - started)
    result: dict[str, Any] = {}
    for kind, by_batch in times.items():
        result[kind] = {}
        for batch, values in by_batch.items():
            p50 = float(np.percentile(values, 50)) * 1000
            result[kind][str(batch)] = {
                "runs": len(values),
                "p50_ms": p50,
                "p95_ms": float(np.percentile(values, 95)) * 1000,
                "frames_per_s_at_p50": batch * 1000 / p50,
            }
    for kind in result:  # ratios against fp32 measured in this same run
        for batch in result[kind]:
            result[kind][batch]["speed_vs_fp32"] = result["fp32"][batch]["p50_ms"] / result[kind][batch]["p50_ms"]
    return result


def session_settings_ab(fp32: bytes, image: np.ndarray, rounds: int, block: int = 6) -> dict[str, Any]:
    """fp32 at batch 1: ORT's default session options against the engine's (`session_options`).

    In alternating blocks of `block` runs, the first run of each block not counted: ORT's default pool threads keep
    spinning after a run, and on 2 cores that steals CPU from whatever runs next, so strict run-by-run
    interleaving charged the spinning session's cost to the other one (measured: the session that ran after a
    spinning one took 20-25% longer, whichever options it had)."""
    plain = ort.SessionOptions()
    plain.log_severity_level = 3
    cpu_only = ["CPUExecutionProvider"]
    sessions = {
        "ort_defaults": ort.InferenceSession(fp32, sess_options=plain, providers=cpu_only),
        "engine_options": ort.InferenceSession(fp32, sess_options=session_options(), providers=cpu_only),
    }
    feed = {"image": image[None].astype(np.float32)}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    cpu: dict[str, float] = dict.fromkeys(sessions, 0.0)
    for _ in range(max(1, rounds // (block - 1))):
        for kind, session in sessions.items():
            session.run(None, feed)  # the other session's spinning threads settle during this one
            for _ in range(block - 1):
                wall, proc = time.perf_counter(), time.process_time()
                session.run(None, feed)
                times[kind].append(time.perf_counter() - wall)
                cpu[kind] += time.process_time() - proc
    return {
        kind: {
            "p50_ms": float(np.percentile(values, 50)) * 1000,
            "cpu_s_per_frame": cpu[kind] / len(values),
            "runs": len(values),
        }
        for kind, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="dataset.csv (default: astronaut face crops)")
    parser.add_argument("--check-dataset", type=Path, default=None, help="crops to measure on (default: --dataset)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint to export (default: random weights)")
    parser.add_argument("--models-dir", type=Path, default=Path(tempfile.gettempdir()) / "painwatch-bench-models")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rounds", type=int, nargs=3, default=[30, 10, 6], metavar=("B1", "B4", "B8"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/model.json"))
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    started = time.perf_counter()
    load_start = os.getloadavg()
    args.models_dir.mkdir(parents=True, exist_ok=True)
    dataset = args.dataset or crop_dataset(args.models_dir / "crops")
    check = args.check_dataset or dataset
    if args.build_only:
        build(dataset, check, args.models_dir, args.checkpoint, args.seed)
        return
    child = [sys.executable, __file__, "--build-only", "--models-dir", str(args.models_dir), "--seed", str(args.seed)]
    if args.checkpoint:
        child += ["--checkpoint", str(args.checkpoint)]
    subprocess.run([*child, "--dataset", str(dataset), "--check-dataset", str(check)], check=True)
    exports = json.loads((args.models_dir / "exports.json").read_text())
    models = {k: (args.models_dir / "variants" / f"{k}.onnx").read_bytes() for k in VARIANTS}
    rows = balanced_sample(read_dataset(check), 128)
    images = np.concatenate([load_crops(rows, 224), astronaut_crops(224)])
    labels = np.array([r.label for r in rows])
    fp32_session = ort.InferenceSession(models["fp32"], providers=["CPUExecutionProvider"])
    limits = Int8BlocksLimits()
    accuracy = {
        kind: deviation(
            fp32_session, ort.InferenceSession(data, providers=["CPUExecutionProvider"]), images, labels, limits
        )
        for kind, data in models.items()
    }
    timing = latency(models, images, dict(zip(BATCHES, args.rounds, strict=True)))
    ab = session_settings_ab(models["fp32"], images[0], args.rounds[0])
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "physical_cores": physical_cores(),
            "onnxruntime": ort.__version__,
            "load_average_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        },
        "model": f"checkpoint {args.checkpoint}, exported in this run"
        if args.checkpoint
        else f"thesis VGG-16 + head, RANDOM weights (seed {args.seed}; no VGG-Face weights here), exported in this run",
        "calibration_dataset": str(dataset),
        "dataset_crops": f"{len(rows)} crops from {check} + 2 astronaut check crops"
        if args.check_dataset or args.dataset
        else f"{len(rows)} astronaut face crops (shifted/scaled/mirrored boxes, arbitrary labels) + 2 check crops",
        "note": "deviations from fp32 and the latency ratios (measured interleaved in this one run) are the figures"
        + ("" if args.checkpoint else "; F1 of a random-weight model against arbitrary labels says nothing about pain"),
        "exports": exports,
        "sizes_mb": {k: len(v) / 1e6 for k, v in models.items()},
        "accuracy_vs_fp32": accuracy,
        "latency": timing,
        "session_options_fp32_batch1": ab,
        "seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("sizes_mb", "latency", "session_options_fp32_batch1")}, indent=2))


if __name__ == "__main__":
    main()
